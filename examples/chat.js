// A chat room as a Durable Object class with WebSockets (the hibernation
// API): each named object is a room. Every message a client sends is
// stored under a sequence number and then broadcast to every socket in
// the room, so all clients see the room's messages in one order: the
// handler's write commits through Raft before its sends go out.
//
//   GET /websocket (Upgrade: websocket)   joins the room; ?user=NAME
//   GET /history[?after=SEQ]              the stored messages, as JSON
//
// A client sends text; it receives JSON {"seq":N,"user":U,"text":T} for
// every message of the room, its own included, and {"joined":U,"seq":N}
// when it joins (N is the last sequence number so far).
//
// Deploy: dobj deploy examples/chat.js
export class ChatRoom {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/websocket") {
      if (request.headers.get("Upgrade") !== "websocket") {
        return new Response("expected Upgrade: websocket", { status: 426 });
      }
      const user = url.searchParams.get("user") ?? "anonymous";
      const pair = new WebSocketPair();
      const [client, server] = Object.values(pair);
      this.ctx.acceptWebSocket(server, ["user:" + user]);
      server.serializeAttachment({ user });
      const seq = (await this.ctx.storage.get("seq")) ?? 0;
      server.send(JSON.stringify({ joined: user, seq }));
      return new Response(null, { status: 101, webSocket: client });
    }
    if (request.method === "GET" && url.pathname === "/history") {
      const after = Number(url.searchParams.get("after") ?? 0);
      const list = await this.ctx.storage.list({ prefix: "msg/", startAfter: "msg/" + pad(after) });
      return Response.json([...list.values()]);
    }
    return new Response("not found", { status: 404 });
  }

  async webSocketMessage(ws, message) {
    if (typeof message !== "string") {
      ws.close(1003, "text messages only");
      return;
    }
    const { user } = ws.deserializeAttachment() ?? { user: "anonymous" };
    const seq = ((await this.ctx.storage.get("seq")) ?? 0) + 1;
    const entry = { seq, user, text: message };
    await this.ctx.storage.put({ seq, ["msg/" + pad(seq)]: entry });
    const out = JSON.stringify(entry);
    for (const peer of this.ctx.getWebSockets()) peer.send(out);
  }

  async webSocketClose(ws, code, reason, wasClean) {
    ws.close(1000, "bye");
  }
}

// pad makes sequence numbers sort as strings.
function pad(n) {
  return String(n).padStart(12, "0");
}
