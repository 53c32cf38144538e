// ctx.storage.sql and ctx.storage.kv of a SQLite-backed object (sql.go).
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  const isView = ArrayBuffer.isView, U8 = Uint8Array;
  const ONE_NONE = "Expected exactly one result from SQL query, but got no results.";
  const ONE_MANY = "Expected exactly one result from SQL query, but got multiple results.";
  // sqlBinding hands an ArrayBuffer to the native for a typed array or a
  // DataView: the bytes it views, copied.
  function sqlBinding(b) {
    return isView(b) ? new U8(b.buffer, b.byteOffset, b.byteLength).slice().buffer : b;
  }
  // rowObject is a row as exec's iterator gives it: its columns by name
  // (a later column of the same name wins, as on Cloudflare).
  function rowObject(names, raw) {
    const o = {};
    for (let j = 0; j < names.length; j++) o[names[j]] = raw[j];
    return o;
  }
  // A cursor is exec's result: every row is already read (the statement
  // ran to its end, its writes made), handed out one at a time. Its
  // state is under symbols, its methods on the prototype, so that an
  // exec makes no closures.
  const CUR = Symbol("cursor");
  function takeRow(st) { return st.i < st.rows.length ? st.rows[st.i++] : undefined; }
  class SqlStorageRawIterator {
    constructor(st) { this[CUR] = st; }
    next() {
      const raw = takeRow(this[CUR]);
      return raw === undefined ? { done: true, value: undefined } : { done: false, value: raw };
    }
    toArray() {
      const st = this[CUR], out = st.rows.slice(st.i);
      st.i = st.rows.length;
      return out;
    }
    [Symbol.iterator]() { return this; }
  }
  class SqlStorageCursor {
    constructor(st) { this[CUR] = st; }
    next() {
      const st = this[CUR], raw = takeRow(st);
      return raw === undefined ? { done: true, value: undefined } : { done: false, value: rowObject(st.names, raw) };
    }
    toArray() {
      const st = this[CUR], out = [];
      for (let raw = takeRow(st); raw !== undefined; raw = takeRow(st)) out.push(rowObject(st.names, raw));
      return out;
    }
    one() {
      const st = this[CUR], raw = takeRow(st);
      if (raw === undefined) throw new Error(ONE_NONE);
      if (st.i < st.rows.length) { st.i = st.rows.length; throw new Error(ONE_MANY); }
      return rowObject(st.names, raw);
    }
    raw() { return new SqlStorageRawIterator(this[CUR]); }
    [Symbol.iterator]() { return this; }
    get columnNames() { return this[CUR].names.slice(); }
    get rowsRead() { return this[CUR].rowsRead; }
    get rowsWritten() { return this[CUR].rowsWritten; }
  }
  // makeCursor wraps what the native returns: [columnNames, rows (arrays),
  // rowsRead, rowsWritten].
  function makeCursor(r) {
    return new SqlStorageCursor({ names: r[0], rows: r[1], rowsRead: r[2], rowsWritten: r[3], i: 0 });
  }
  function makeSql() {
    return Object.freeze({
      exec(query, ...bindings) {
        for (let j = 0; j < bindings.length; j++) bindings[j] = sqlBinding(bindings[j]);
        return makeCursor(native.sqlExec(`${query}`, ...bindings));
      },
      get databaseSize() { return native.sqlDatabaseSize(); },
    });
  }
  // makeKv is the synchronous key-value API, on the same table as the
  // asynchronous one: list() is an iterator of [key, value] pairs.
  function makeKv() {
    return Object.freeze({
      get(k) { native.requireSQL(); return native.get(key(k)); },
      put(k, v) { native.requireSQL(); native.put(key(k), v); },
      delete(k) { native.requireSQL(); return native.delete(key(k)); },
      list(o) { native.requireSQL(); return native.list(listOptions(o)).entries(); },
    });
  }
