import { DurableObject } from "cloudflare:workers";

// CheckKV is one object of dobj check's worker workload: the register's
// keys and the counter's, in its storage. Every method is one run of the
// object: what it writes commits as one command.
export class CheckKV extends DurableObject {
  async read(key) {
    const v = await this.ctx.storage.get(key);
    return v === undefined ? { found: false } : { found: true, value: v };
  }

  async write(key, value) {
    await this.ctx.storage.put(key, value);
    return true;
  }

  // cas writes value when key holds old (null: absent), comparing JSON by
  // its serialisation, as the built-in transaction compares canonical JSON.
  async cas(key, old, value) {
    const cur = await this.ctx.storage.get(key);
    const same = old === null ? cur === undefined : cur !== undefined && JSON.stringify(cur) === JSON.stringify(old);
    if (!same) return false;
    await this.ctx.storage.put(key, value);
    return true;
  }

  // increment adds one to key's count. No Idempotency-Key crosses a
  // Worker into an RPC, so the application keeps its own: the first
  // call's answer is written beside the count in the same put, and a
  // call with the same idem returns it and adds nothing.
  async increment(key, idem) {
    const s = this.ctx.storage;
    if (idem) {
      const done = await s.get("idem/" + idem);
      if (done !== undefined) return done;
    }
    const value = ((await s.get("count/" + key)) ?? 0) + 1;
    const entries = { ["count/" + key]: value };
    if (idem) entries["idem/" + idem] = value;
    await s.put(entries);
    return value;
  }

  async count(key) {
    return (await this.ctx.storage.get("count/" + key)) ?? 0;
  }
}

// The Worker: /OBJECT/OP?key=KEY calls OP on the object named OBJECT;
// the increment's Idempotency-Key header becomes its idem argument.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const parts = url.pathname.split("/");
    const key = url.searchParams.get("key");
    if (parts.length !== 3 || key === null) {
      return new Response("want /OBJECT/OP?key=KEY", { status: 404 });
    }
    const stub = env.KV.getByName(decodeURIComponent(parts[1]));
    switch (parts[2]) {
      case "read":
        return Response.json(await stub.read(key));
      case "write":
        return Response.json({ ok: await stub.write(key, await request.json()) });
      case "cas": {
        const { old, value } = await request.json();
        return Response.json({ succeeded: await stub.cas(key, old, value) });
      }
      case "increment":
        return Response.json({ value: await stub.increment(key, request.headers.get("Idempotency-Key")) });
      case "count":
        return Response.json({ value: await stub.count(key) });
    }
    return new Response("no such operation", { status: 404 });
  },
};
