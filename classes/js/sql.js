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
  // makeCursor is exec's result: every row is already read (the
  // statement ran to its end, its writes made), handed out one at a time.
  function makeCursor(r) {
    const names = r.columnNames, rows = r.rows;
    let i = 0;
    function take() { return i < rows.length ? rows[i++] : undefined; }
    const cursor = {
      next() {
        const raw = take();
        return raw === undefined ? { done: true, value: undefined } : { done: false, value: rowObject(names, raw) };
      },
      toArray() {
        const out = [];
        for (let raw = take(); raw !== undefined; raw = take()) out.push(rowObject(names, raw));
        return out;
      },
      one() {
        const raw = take();
        if (raw === undefined) throw new Error(ONE_NONE);
        if (i < rows.length) { i = rows.length; throw new Error(ONE_MANY); }
        return rowObject(names, raw);
      },
      raw() {
        const it = {
          next() {
            const raw = take();
            return raw === undefined ? { done: true, value: undefined } : { done: false, value: raw };
          },
          toArray() {
            const out = [];
            for (let raw = take(); raw !== undefined; raw = take()) out.push(raw);
            return out;
          },
          [Symbol.iterator]() { return it; },
        };
        return it;
      },
      [Symbol.iterator]() { return cursor; },
      get columnNames() { return names.slice(); },
      get rowsRead() { return r.rowsRead; },
      get rowsWritten() { return r.rowsWritten; },
    };
    return cursor;
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
