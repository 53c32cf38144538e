import { DurableObject } from "cloudflare:workers";

// Counter is the seed's: Workers call its methods over RPC.
export class Counter extends DurableObject {
  async getCounterValue() {
    return (await this.ctx.storage.get("value")) ?? 0;
  }

  async increment(by = 1) {
    const value = (await this.getCounterValue()) + by;
    await this.ctx.storage.put("value", value);
    return value;
  }
}

// POST /NAME/increment and GET /NAME, as the seed's hono routes answer.
export default {
  async fetch(request, env) {
    const parts = new URL(request.url).pathname.split("/");
    const name = decodeURIComponent(parts[1] ?? "");
    const stub = env.COUNTER.get(env.COUNTER.idFromName(name));
    if (request.method === "POST" && parts.length === 3 && parts[2] === "increment") {
      return Response.json({ name, value: await stub.increment(1) });
    }
    if (request.method === "GET" && parts.length === 2) {
      return Response.json({ name, value: await stub.getCounterValue() });
    }
    return new Response("Not Found", { status: 404 });
  },
};
