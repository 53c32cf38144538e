// ctx.storage.
// A part of the class runtime's prelude (prelude.go): it runs in the
// prelude function's scope, after the parts before it.
  // Keys are DOMStrings, converted as WebIDL converts them: get(1) reads
  // "1"; a symbol is a TypeError.
  function key(k) {
    if (typeof k === "string") return k;
    if (typeof k === "symbol") throw new TypeError("storage keys must be strings, got a symbol");
    return `${k}`;
  }
  function keys(ks) { return Array.from(ks, key); }
  const LIST_STRINGS = ["prefix", "start", "startAfter", "end"];
  // listOptions converts list()'s string options as WebIDL does.
  function listOptions(o) {
    if (o === undefined || o === null) return {};
    if (typeof o !== "object") return o; // the native refuses it
    const c = { limit: o.limit, reverse: o.reverse };
    for (const name of LIST_STRINGS) {
      const v = o[name];
      if (v !== undefined) c[name] = key(v);
    }
    return c;
  }
  // Storage methods return promises, as Cloudflare's do, though the
  // work is done at once: Promise.resolve costs less than new Promise.
  const P = Promise;
  function storageOps(check) {
    return {
      get(k, opts) {
        try {
          check();
          return P.resolve(isArray(k) ? native.getMany(keys(k)) : native.get(key(k)));
        } catch (e) { return P.reject(e); }
      },
      put(k, v, opts) {
        try {
          check();
          if (typeof k === "object" && k !== null) native.putMany(k); else native.put(key(k), v);
          return P.resolve();
        } catch (e) { return P.reject(e); }
      },
      delete(k, opts) {
        try {
          check();
          return P.resolve(isArray(k) ? native.deleteMany(keys(k)) : native.delete(key(k)));
        } catch (e) { return P.reject(e); }
      },
      list(o) {
        try {
          check();
          return P.resolve(native.list(listOptions(o)));
        } catch (e) { return P.reject(e); }
      },
      getAlarm(opts) {
        try { check(); return P.resolve(native.getAlarm()); } catch (e) { return P.reject(e); }
      },
      setAlarm(t, opts) {
        try {
          check();
          native.setAlarm(t instanceof Date ? t.getTime() : t);
          return P.resolve();
        } catch (e) { return P.reject(e); }
      },
      deleteAlarm(opts) {
        try { check(); native.deleteAlarm(); return P.resolve(); } catch (e) { return P.reject(e); }
      },
    };
  }
  function makeStorage() {
    const s = storageOps(() => {});
    s.deleteAll = (opts) => { try { native.deleteAll(); return P.resolve(); } catch (e) { return P.reject(e); } };
    s.sync = () => Promise.resolve();
    s.transaction = async (fn) => {
      const token = native.txnBegin(false);
      let rolledBack = false;
      const txn = storageOps(() => { if (rolledBack) throw new Error("the transaction was rolled back"); });
      txn.rollback = () => {
        if (rolledBack) return;
        rolledBack = true;
        native.txnRollback(token);
      };
      try {
        const r = await fn(txn);
        if (!rolledBack) native.txnCommit(token);
        return r;
      } catch (e) {
        if (!rolledBack) native.txnRollback(token);
        throw e;
      }
    };
    s.transactionSync = (fn) => {
      const token = native.txnBegin(true);
      try {
        const r = fn();
        native.txnCommit(token);
        return r;
      } catch (e) {
        native.txnRollback(token);
        throw e;
      }
    };
    s.sql = makeSql();
    s.kv = makeKv();
    return Object.freeze(s);
  }
