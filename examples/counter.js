// The seed's counter as a Durable Object class: the integer at key "value"
// (or ?key=K) of each named object.
//
//   POST /increment[?by=N&key=K]   adds N (default 1)      {"name":"card-1","value":6}
//   POST /decrement[?by=N&key=K]   subtracts N (default 1)
//   GET  /[?key=K]                 reads it (a missing counter is 0)
//
// Deploy: dobj deploy examples/counter.js
// Call:   dobj call Counter card-1 /increment -X POST
export class Counter {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }

  async fetch(request) {
    const url = new URL(request.url);
    const key = url.searchParams.get("key") ?? "value";
    const body = (value) => {
      const out = { name: this.ctx.id.name };
      if (url.searchParams.has("key")) out.key = key;
      out.value = value;
      return Response.json(out);
    };

    let by = 0;
    switch (`${request.method} ${url.pathname}`) {
      case "POST /increment":
        by = 1;
        break;
      case "POST /decrement":
        by = -1;
        break;
      case "GET /":
        return body((await this.ctx.storage.get(key)) ?? 0);
      default:
        return Response.json({ error: `no route ${request.method} ${url.pathname}` }, { status: 404 });
    }
    if (url.searchParams.has("by")) {
      const n = Number(url.searchParams.get("by"));
      if (!Number.isSafeInteger(n)) {
        return Response.json({ error: "by must be an integer" }, { status: 400 });
      }
      by *= n;
    }
    const current = (await this.ctx.storage.get(key)) ?? 0;
    if (!Number.isSafeInteger(current)) {
      return Response.json({ error: `${key} does not hold an integer` }, { status: 409 });
    }
    const value = current + by;
    if (!Number.isSafeInteger(value)) {
      return Response.json({ error: "overflow" }, { status: 409 });
    }
    await this.ctx.storage.put(key, value);
    return body(value);
  }
}
