// Runs ONNX node tests (a manifest written by onnx_node_tests_peer.py) through onnxruntime-node and
// judges them with ONNX's rule (rtol 1e-3, atol 1e-7; exact for ints/bools/strings).
// usage (from peers/): node ../bench/peers/onnx_ort_node_tests.js MANIFEST.json RESULTS.json
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(require.resolve('onnxruntime-node', { paths: [process.cwd()] }));

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
  bool: Uint8Array, float16: Uint16Array,
};

function halfToFloat(h) {
  const s = (h & 0x8000) ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}

function decode(t) {
  if (t.dtype === 'string') return t.data;
  const buf = Buffer.from(t.b64, 'base64');
  const A = ARRAYS[t.dtype];
  const copy = new Uint8Array(buf.length);
  copy.set(buf);
  return new A(copy.buffer, 0, buf.length / A.BYTES_PER_ELEMENT);
}

function toTensor(t) {
  if (!t || t.dtype.startsWith('unsupported')) throw new Error('input dtype ' + (t ? t.dtype : 'missing'));
  return new ort.Tensor(t.dtype, decode(t), t.dims);
}

function values(dtype, data) {
  if (dtype === 'float16') return Array.from(data, halfToFloat);
  return Array.from(data);
}

function compare(actual, expected) {
  if (!expected || expected.dtype.startsWith('unsupported')) return 'expected dtype ' + (expected ? expected.dtype : 'missing');
  const dims = Array.from(actual.dims);
  if (dims.length !== expected.dims.length || dims.some((d, i) => d !== expected.dims[i]))
    return `shape [${dims}] vs expected [${expected.dims}]`;
  const e = values(expected.dtype, decode(expected));
  const a = values(actual.type, actual.data);
  const isFloat = ['float32', 'float64', 'float16'].includes(expected.dtype);
  for (let i = 0; i < e.length; i++) {
    if (isFloat) {
      const x = Number(a[i]), y = Number(e[i]);
      if (Number.isNaN(y) && Number.isNaN(x)) continue;
      if (x === y) continue;
      if (!(Math.abs(x - y) <= 1e-7 + 1e-3 * Math.abs(y))) return `[${i}] = ${x}, expected ${y}`;
    } else {
      const x = typeof a[i] === 'boolean' ? Number(a[i]) : a[i], y = e[i];
      if (typeof x === 'bigint' || typeof y === 'bigint') { if (BigInt(x) !== BigInt(y)) return `[${i}] = ${x}, expected ${y}`; }
      else if (x !== y && Number(x) !== Number(y)) return `[${i}] = ${x}, expected ${y}`;
    }
  }
  return '';
}

async function main() {
  const [manifest, out] = process.argv.slice(2);
  const tests = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  const verdicts = {}, messages = {};
  let pass = 0, fail = 0, error = 0, skip = 0;
  const opts = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
  const t0 = process.hrtime.bigint();
  for (const t of tests) {
    if (t.skip) { verdicts[t.name] = 'skip'; messages[t.name] = t.skip; skip++; continue; }
    try {
      const session = await ort.InferenceSession.create(fs.readFileSync(t.model), opts);
      const feeds = {};
      for (const [n, v] of Object.entries(t.inputs)) feeds[n] = toTensor(v);
      const res = await session.run(feeds);
      let why = '';
      for (const [n, exp] of t.outputs) {
        if (!res[n]) { why = `output ${n} missing`; break; }
        why = compare(res[n], exp);
        if (why) { why = `output ${n}: ${why}`; break; }
      }
      if (session.release) await session.release();
      if (why) { verdicts[t.name] = 'fail'; messages[t.name] = why; fail++; }
      else { verdicts[t.name] = 'pass'; pass++; }
    } catch (e) {
      verdicts[t.name] = 'error'; messages[t.name] = String(e.message || e).split('\n')[0]; error++;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let version = 'unknown';
  try { version = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('onnxruntime-node/package.json', { paths: [process.cwd()] })), 'package.json'))).version; } catch (e) { /* keep unknown */ }
  fs.writeFileSync(out, JSON.stringify({ version, pass, fail, error, skip, seconds, verdicts, messages }, null, 1));
}

main().catch((e) => { console.error(e); process.exit(1); });
