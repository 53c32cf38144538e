import { DurableObject } from "cloudflare:workers";

// SQLCounter is the SQL counter increment: one UPDATE … SET v =
// v + 1 … RETURNING v a call. An object's first call finds no table,
// makes it and inserts the first row instead; a failed statement changes
// nothing, so the call goes on.
export class SQLCounter extends DurableObject {
  increment() {
    const sql = this.ctx.storage.sql;
    try {
      const rows = sql.exec("UPDATE counter SET v = v + 1 WHERE id = 1 RETURNING v").toArray();
      if (rows.length === 1) return rows[0].v;
    } catch (e) {
      if (!String(e.message).includes("no such table")) throw e;
      sql.exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
    }
    return sql.exec("INSERT INTO counter VALUES (1, 1) RETURNING v").one().v;
  }

  // fill adds a row of kb KiB (random bytes, the same on every replica:
  // randomblob() draws from the call's seed), for the scale run.
  fill(kb) {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    sql.exec("INSERT INTO blobs (b) VALUES (randomblob(?))", kb * 1024);
    return sql.databaseSize;
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/increment") {
      return Response.json({ value: this.increment() });
    }
    if (request.method === "POST" && url.pathname === "/fill") {
      return Response.json({ bytes: this.fill(Number(url.searchParams.get("kb") ?? "256")) });
    }
    return new Response("POST /increment or /fill?kb=N", { status: 404 });
  }
}

export default {
  fetch() {
    return new Response("dobj bench's SQL counters are called through /_scripts/dobj-bench-sql/objects/", { status: 404 });
  },
};
