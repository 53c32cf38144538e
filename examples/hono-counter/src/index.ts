import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

type Env = {
  COUNTER: DurableObjectNamespace<Counter>;
};

// Counter is one named counter: Workers call its methods over RPC.
export class Counter extends DurableObject<Env> {
  async getCounterValue(): Promise<number> {
    return (await this.ctx.storage.get<number>("value")) ?? 0;
  }

  async increment(by = 1): Promise<number> {
    const value = (await this.getCounterValue()) + by;
    await this.ctx.storage.put("value", value);
    return value;
  }

  async decrement(by = 1): Promise<number> {
    const value = (await this.getCounterValue()) - by;
    await this.ctx.storage.put("value", value);
    return value;
  }
}

const app = new Hono<{ Bindings: Env }>();

// by is the ?by=N query parameter: an integer, 1 when absent.
function by(query: string | undefined): number | null {
  if (query === undefined) return 1;
  const n = Number(query);
  return Number.isSafeInteger(n) ? n : null;
}

function counter(env: Env, name: string) {
  return env.COUNTER.get(env.COUNTER.idFromName(name));
}

app.post("/:name/increment", async (c) => {
  const name = c.req.param("name");
  const n = by(c.req.query("by"));
  if (n === null) return c.json({ error: "by must be an integer" }, 400);
  const stub = counter(c.env, name);
  return c.json({ name, value: await stub.increment(n) });
});

app.post("/:name/decrement", async (c) => {
  const name = c.req.param("name");
  const n = by(c.req.query("by"));
  if (n === null) return c.json({ error: "by must be an integer" }, 400);
  const stub = counter(c.env, name);
  return c.json({ name, value: await stub.decrement(n) });
});

app.get("/:name", async (c) => {
  const name = c.req.param("name");
  const stub = c.env.COUNTER.get(c.env.COUNTER.idFromName(name));
  return c.json({ name, value: await stub.getCounterValue() });
});

export default app;
