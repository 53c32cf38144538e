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

  async fetch(request) {
    if (request.method !== "POST" || new URL(request.url).pathname !== "/increment") {
      return new Response("POST /increment", { status: 404 });
    }
    return Response.json({ value: this.increment() });
  }
}

export default {
  fetch() {
    return new Response("dobj bench's SQL counters are called through /_scripts/dobj-bench-sql/objects/", { status: 404 });
  },
};
