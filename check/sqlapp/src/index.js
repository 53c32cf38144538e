import { DurableObject } from "cloudflare:workers";

// CheckSQL is one object of dobj check's sql workload: registers and
// counters in SQL tables of its own database. check calls its fetch
// through the operator route /_scripts/dobj-check-sql/objects/CheckSQL/
// <object>/<op>?key=KEY, whose Idempotency-Key the platform keeps: a
// retried increment counts once. Every fetch is one run of the object:
// what it writes commits as one command, or not at all.
export class CheckSQL extends DurableObject {
  // tables makes the two tables the first time the object needs them.
  // It asks the schema first, so that a read stays a read.
  tables() {
    const sql = this.ctx.storage.sql;
    if (sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name IN ('registers', 'counters')").one().n === 2) return;
    sql.exec(`CREATE TABLE IF NOT EXISTS registers (key TEXT PRIMARY KEY, value TEXT NOT NULL);
              CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
  }

  // register is key's JSON text, or undefined.
  register(key) {
    const rows = this.ctx.storage.sql.exec("SELECT value FROM registers WHERE key = ?", key).toArray();
    return rows.length === 0 ? undefined : rows[0].value;
  }

  async fetch(request) {
    const url = new URL(request.url);
    const key = url.searchParams.get("key");
    const sql = this.ctx.storage.sql;
    this.tables();
    switch (url.pathname) {
      case "/get": {
        const v = this.register(key);
        return Response.json(v === undefined ? { found: false } : { found: true, value: JSON.parse(v) });
      }
      case "/put":
        sql.exec("INSERT INTO registers VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          key, JSON.stringify(await request.json()));
        return Response.json({ ok: true });
      case "/cas": {
        // Compares JSON by its serialisation, as the built-in
        // transaction compares canonical JSON.
        const { old, value } = await request.json();
        const cur = this.register(key);
        const same = old === null ? cur === undefined : cur === JSON.stringify(old);
        if (!same) return Response.json({ succeeded: false });
        sql.exec("INSERT INTO registers VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          key, JSON.stringify(value));
        return Response.json({ succeeded: true });
      }
      case "/incr": {
        const { n } = sql.exec("INSERT INTO counters VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1 RETURNING n", key).one();
        return Response.json({ value: n });
      }
      case "/count": {
        const rows = sql.exec("SELECT n FROM counters WHERE key = ?", key).toArray();
        return Response.json({ value: rows.length === 0 ? 0 : rows[0].n });
      }
    }
    return new Response("no such route", { status: 404 });
  }
}

export default {
  fetch() {
    return new Response("dobj check's sql workload: its objects are called through /_scripts/dobj-check-sql/objects/", { status: 404 });
  },
};
