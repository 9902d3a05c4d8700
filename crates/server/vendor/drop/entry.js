// gardienDrop vendor entry: age (typage) streaming encryption + tus-js-client Upload.
// Bundled by build.sh into drop-vendor.js (IIFE, no imports, no eval).
import { Encrypter } from "age-encryption";
import { Upload } from "tus-js-client";

const toString = Object.prototype.toString;
const COALESCE_BYTES = 1 << 20;

function concat(parts, size) {
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.byteLength; }
  return out;
}

// typage's STREAM transform only understands Uint8Array chunks (it reads
// chunk.length / chunk.subarray); anything else would be silently dropped.
function toBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) {
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  if (toString.call(chunk) === "[object ArrayBuffer]") return new Uint8Array(chunk);
  throw new TypeError("gardienDrop.encryptStream: stream chunks must be Uint8Array, ArrayBuffer or an ArrayBufferView");
}

/**
 * Encrypt a plaintext stream to a single age X25519 recipient ("age1...").
 * Returns (synchronously) a ReadableStream<Uint8Array> carrying the complete
 * age v1 file: header, 16-byte nonce, then the STREAM payload (64 KiB chunks),
 * delivered in pieces of about 1 MiB (the last piece may be smaller).
 * Errors (e.g. a bad recipient string) are thrown synchronously; failures
 * during encryption error the returned stream. Cancelling the returned stream
 * cancels the input stream.
 */
function encryptStream(readable, recipient) {
  if (!readable || typeof readable.getReader !== "function") {
    throw new TypeError("gardienDrop.encryptStream: first argument must be a ReadableStream");
  }
  if (typeof recipient !== "string" || !recipient.startsWith("age1")) {
    throw new TypeError("gardienDrop.encryptStream: recipient must be an age1... string");
  }
  const enc = new Encrypter();
  enc.addRecipient(recipient); // throws on malformed recipient

  // Re-wrap the input as a same-realm ReadableStream of Uint8Array: typage
  // checks `file instanceof ReadableStream` and otherwise treats it as bytes.
  const srcReader = readable.getReader();
  const src = new ReadableStream({
    async pull(controller) {
      for (;;) {
        const { done, value } = await srcReader.read();
        if (done) { controller.close(); return; }
        const bytes = toBytes(value);
        if (bytes.byteLength > 0) { controller.enqueue(bytes); return; }
      }
    },
    cancel(reason) { return srcReader.cancel(reason); },
  }, { highWaterMark: 0 });

  const encrypted = enc.encrypt(src); // Promise<ReadableStreamWithSize>
  encrypted.catch(() => {}); // surfaced through the returned stream instead
  let outReader = null;
  return new ReadableStream({
    // typage emits one piece per 64 KiB STREAM chunk. tus-js-client's browser
    // StreamSource grows its buffer by copying (concat) on every read, which is
    // quadratic in chunkSize / piece size, so coalesce into ~1 MiB pieces.
    async pull(controller) {
      if (outReader === null) outReader = (await encrypted).getReader();
      const parts = [];
      let size = 0;
      let finished = false;
      while (size < COALESCE_BYTES) {
        const { done, value } = await outReader.read();
        if (done) { finished = true; break; }
        parts.push(value);
        size += value.byteLength;
      }
      if (size > 0) controller.enqueue(parts.length === 1 ? parts[0] : concat(parts, size));
      if (finished) controller.close();
    },
    async cancel(reason) {
      try {
        if (outReader === null) outReader = (await encrypted).getReader();
        await outReader.cancel(reason);
      } catch (e) {
        await srcReader.cancel(reason).catch(() => {});
      }
    },
  }, { highWaterMark: 0 });
}

globalThis.gardienDrop = { encryptStream, Upload };
