// A token-bucket rate limiter per key, as a Durable Object class in
// TypeScript. Each object holds one bucket per key: `capacity` tokens,
// refilled at `rate` tokens a second.
//
//   POST /take?key=K[&cost=N]   takes N tokens (default 1):
//                               200 {"allowed":true,"remaining":4}
//                               429 {"allowed":false,"remaining":0,"retryAfterMs":200}
//   GET  /?key=K                the bucket's tokens now
//   PUT  /config                {"capacity":10,"rate":5} for new buckets of this object
//
// Deploy: dobj deploy examples/ratelimiter.ts
// Call:   dobj call RateLimiter api /take?key=alice -X POST

interface Config {
  capacity: number;
  rate: number; // tokens per second
}

interface Bucket {
  tokens: number;
  updated: number; // unix ms of the last refill
}

const defaults: Config = { capacity: 10, rate: 5 };

type Storage = {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
};

export class RateLimiter {
  private storage: Storage;
  private config: Config = defaults;

  constructor(ctx: { storage: Storage; blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T> }, env: unknown) {
    this.storage = ctx.storage;
    // The object's config is read once, before any request is served.
    ctx.blockConcurrencyWhile(async () => {
      this.config = (await this.storage.get<Config>("config")) ?? defaults;
    });
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "PUT" && url.pathname === "/config") {
      const c = (await request.json()) as Partial<Config>;
      if (!(typeof c.capacity === "number" && c.capacity > 0 && typeof c.rate === "number" && c.rate > 0)) {
        return Response.json({ error: "capacity and rate must be positive numbers" }, { status: 400 });
      }
      this.config = { capacity: c.capacity, rate: c.rate };
      await this.storage.put("config", this.config);
      return Response.json(this.config);
    }
    const key = url.searchParams.get("key");
    if (!key) {
      return Response.json({ error: "?key= is required" }, { status: 400 });
    }
    const bucket = await this.refill(key, Date.now());
    if (request.method === "GET" && url.pathname === "/") {
      return Response.json({ key, tokens: bucket.tokens, capacity: this.config.capacity });
    }
    if (request.method !== "POST" || url.pathname !== "/take") {
      return Response.json({ error: "no such route" }, { status: 404 });
    }
    const cost = Number(url.searchParams.get("cost") ?? "1");
    if (!(cost > 0) || cost > this.config.capacity) {
      return Response.json({ error: `cost must be in (0, ${this.config.capacity}]` }, { status: 400 });
    }
    if (bucket.tokens < cost) {
      const retryAfterMs = Math.ceil(((cost - bucket.tokens) / this.config.rate) * 1000);
      await this.storage.put(`bucket:${key}`, bucket);
      return Response.json(
        { allowed: false, remaining: Math.floor(bucket.tokens), retryAfterMs },
        { status: 429, headers: { "retry-after": String(Math.ceil(retryAfterMs / 1000)) } },
      );
    }
    bucket.tokens -= cost;
    await this.storage.put(`bucket:${key}`, bucket);
    return Response.json({ allowed: true, remaining: Math.floor(bucket.tokens) });
  }

  // refill returns key's bucket with the tokens earned since its last update.
  private async refill(key: string, now: number): Promise<Bucket> {
    const b = (await this.storage.get<Bucket>(`bucket:${key}`)) ?? { tokens: this.config.capacity, updated: now };
    const earned = (Math.max(0, now - b.updated) / 1000) * this.config.rate;
    return { tokens: Math.min(this.config.capacity, b.tokens + earned), updated: now };
  }
}
