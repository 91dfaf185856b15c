// ringd's local API through a JavaScript msgpack library (@msgpack/msgpack), decoded the way
// proto/RPC.md ("64-bit checksums") tells JavaScript clients to: with useBigInt64, so a
// checksum arrives exactly. A notification and pipelined requests on one connection, an
// error answer, and the ring checksum as BigInt. Prints "ok RING_CHECKSUM_HEX" and exits 0, or
// says what went wrong and exits 1.
//
// Usage: node client.mjs SOCKET   (run by tests/cluster/test_api_rpc.c, after
//                                  `npm ci` here: scripts/test.sh does it)
import net from "node:net";
import { decodeMultiStream, encode } from "@msgpack/msgpack";

const fail = (why) => {
    console.log(`node client: ${why}`);
    process.exit(1);
};
setTimeout(() => fail("no answer within 5 s"), 5000).unref();

const sock = net.createConnection(process.argv[2]);
await new Promise((ok, bad) => sock.once("connect", ok).once("error", bad)).catch((e) =>
    fail(`connect: ${e.message}`));

// A notification of a known method first (answered with nothing), then three requests at once.
sock.write(encode([2, "stats", []]));
sock.write(encode([0, 1, "ring", []]));
sock.write(encode([0, 2, "lookup", ["user:42"]]));
sock.write(encode([0, 3, "no_such_method", []]));

const want = [1, 2, 3];
const answers = new Map();
for await (const msg of decodeMultiStream(sock, { useBigInt64: true })) {
    if (!Array.isArray(msg) || msg.length !== 4 || msg[0] !== 1) {
        fail(`not a response: ${JSON.stringify(msg, (k, v) => typeof v === "bigint" ? `${v}n` : v)}`);
    }
    if (msg[1] !== want[answers.size]) {
        fail(`answers out of order: msgid ${msg[1]} where ${want[answers.size]} was due`);
    }
    answers.set(msg[1], msg);
    if (answers.size === want.length) {
        break;
    }
}
sock.destroy();

const [, , ringErr, ring] = answers.get(1);
if (ringErr !== null || typeof ring.ring_checksum !== "bigint") {
    fail(`ring(): the checksum is not a BigInt: ${typeof ring?.ring_checksum}`);
}
const [, , lookupErr, owner] = answers.get(2);
if (lookupErr !== null || typeof owner.id !== "string" || typeof owner.address !== "string") {
    fail("lookup(): no {id, address}");
}
const [, , err, result] = answers.get(3);
if (result !== null || err?.code !== "ENOENT" || typeof err?.message !== "string") {
    fail(`an unknown method: want the error {"code": "ENOENT", "message"}, got ${JSON.stringify(err)}`);
}
console.log(`ok ${ring.ring_checksum.toString(16).padStart(16, "0")}`);
