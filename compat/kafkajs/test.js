// kafkajs 2.2.4 checks (compat/kafkajs/run.sh). kafkajs speaks Produce up to v7 and
// ApiVersions up to v2, and has no manual assignment: consumption goes through a group.
//
//   node test.js codec none|gzip   produce 2,000 keyed records with headers (duplicate keys
//                                  as arrays), acks=-1; then read them back in a consumer group
//   node test.js admin             createTopics, fetchTopicMetadata, fetchTopicOffsets,
//                                  describeCluster, deleteTopics
//   node test.js txn               transactions: 100 records committed, 50 aborted, 30
//                                  committed, then a consumer group (read_committed, kafkajs's
//                                  default) gets exactly the 130 committed ones in order and a
//                                  readUncommitted group all 180; sendOffsets commits the group's
//                                  offset only with the transaction; a second producer with the
//                                  same transactionalId fences the first
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const BOOTSTRAP = process.env.BOOTSTRAP || '127.0.0.1:9092';
const NODE_ID = Number(process.env.COMPAT_NODE_ID || 0);
const N = 2000;
const BASE_TS = (Math.floor(Date.now() / 1000) - 3600) * 1000; // recent: retention is 7 days

const kafka = new Kafka({
  clientId: 'runnel-compat-kafkajs',
  brokers: [BOOTSTRAP],
  logLevel: logLevel[process.env.COMPAT_KAFKAJS_LOG || 'ERROR'],
  retry: { retries: 5 },
  connectionTimeout: 10000,
  requestTimeout: 30000,
});

const topicName = (p) => `${p}-${crypto.randomBytes(5).toString('hex')}`;

function record(i) {
  return {
    key: `key-${i}`,
    value: `value ${i} `.repeat(1 + (i % 5)),
    headers: { 'h-index': String(i), dup: ['first', 'second', String(i % 3)], empty: '' },
    timestamp: String(BASE_TS + i),
  };
}

async function produce(topic, codec) {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const compression = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }[codec];
  const results = [];
  for (let start = 0; start < N; start += 500) {
    const messages = [];
    for (let i = start; i < start + 500; i++) messages.push({ ...record(i), partition: 0 });
    results.push(...(await producer.send({ topic, acks: -1, compression, messages })));
  }
  await producer.disconnect();
  // One result per request; baseOffset of each is the next 500-boundary.
  assert.deepEqual(results.map((r) => [r.partition, Number(r.baseOffset), r.errorCode]),
    [0, 500, 1000, 1500].map((o) => [0, o, 0]), 'produce results (partition, baseOffset, error)');
}

async function consume(topic) {
  const consumer = kafka.consumer({ groupId: topicName('kafkajs-g'), sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  let done;
  const finished = new Promise((res) => { done = res; });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, message });
      if (got.length >= N) done();
    },
  });
  const timer = setTimeout(done, 90000);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  assert.equal(got.length, N, 'records consumed within 90 s');
  got.forEach(({ partition, message: m }, i) => {
    const want = record(i);
    assert.equal(partition, 0);
    assert.equal(m.offset, String(i), `offset of record ${i}`);
    assert.equal(m.key.toString(), want.key, `key of record ${i}`);
    assert.equal(m.value.toString(), want.value, `value of record ${i}`);
    assert.equal(m.timestamp, want.timestamp, `timestamp of record ${i}`);
    const h = Object.fromEntries(Object.entries(m.headers).map(([k, v]) =>
      [k, Array.isArray(v) ? v.map(String) : String(v)]));
    assert.deepEqual(h, want.headers, `headers of record ${i}`);
  });
}

async function codecCheck(codec, phase) {
  const admin = kafka.admin();
  await admin.connect();
  const topic = topicName(`kafkajs-${codec}`);
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }), true);
  await produce(topic, codec);
  if (phase === 'produce') {
    // ListOffsets earliest/latest through the admin client
    const offs = await admin.fetchTopicOffsets(topic);
    assert.deepEqual(offs.map((o) => [o.partition, o.low, o.high]), [[0, '0', String(N)]], 'fetchTopicOffsets (low, high)');
    await admin.disconnect();
    return;
  }
  await admin.disconnect();
  await consume(topic);
}

async function adminCheck() {
  const admin = kafka.admin();
  await admin.connect();
  const topic = topicName('kafkajs-admin');
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true }), true);
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  const parts = md.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId);
  assert.deepEqual(parts.map((p) => [p.partitionId, p.leader, p.replicas, p.isr]),
    [0, 1, 2].map((i) => [i, NODE_ID, [NODE_ID], [NODE_ID]]), 'partition metadata');
  assert.ok((await admin.listTopics()).includes(topic), 'listTopics');
  const cl = await admin.describeCluster();
  assert.deepEqual(cl.brokers.map((b) => b.nodeId), [NODE_ID], 'describeCluster brokers');
  assert.equal(cl.controller, NODE_ID, 'controller');
  assert.ok(cl.clusterId, 'cluster id');
  await admin.deleteTopics({ topics: [topic], timeout: 30000 });
  for (let i = 0; i < 50 && (await admin.listTopics()).includes(topic); i++) await new Promise((r) => setTimeout(r, 200));
  assert.ok(!(await admin.listTopics()).includes(topic), 'topic gone after deleteTopics');
  await admin.disconnect();
}

async function readGroup(topic, want, readUncommitted) {
  const consumer = kafka.consumer({ groupId: topicName('kafkajs-txn-g'), sessionTimeout: 10000,
    heartbeatInterval: 1000, readUncommitted });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  let done;
  const finished = new Promise((res) => { done = res; });
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push(message.value.toString());
      if (got.length >= want) setTimeout(done, 1000); // a second more: nothing else may come
    },
  });
  const timer = setTimeout(done, 60000);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  return got;
}

async function txnCheck() {
  const admin = kafka.admin();
  await admin.connect();
  const topic = topicName('kafkajs-txn');
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }), true);
  const txnId = topicName('kafkajs-txn-id');
  const producer = kafka.producer({ transactionalId: txnId, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const round = async (prefix, n, commit) => {
    const txn = await producer.transaction();
    const messages = [];
    for (let i = 0; i < n; i++) messages.push({ value: `${prefix}${i}`, partition: 0 });
    await txn.send({ topic, messages });
    if (commit) await txn.commit(); else await txn.abort();
  };
  await round('a', 100, true);
  await round('b', 50, false);
  await round('c', 30, true);
  const want = [...Array(100).keys()].map((i) => `a${i}`).concat([...Array(30).keys()].map((i) => `c${i}`));
  assert.deepEqual(await readGroup(topic, 130, false), want, 'read_committed group: committed records in order');
  assert.equal((await readGroup(topic, 180, true)).length, 180, 'readUncommitted group: every record');
  // sendOffsets: the group's offset moves only with a committed transaction.
  const group = topicName('kafkajs-eos');
  const offsetOf = async () => {
    const r = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return r[0].partitions[0].offset;
  };
  let txn = await producer.transaction();
  await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '40' }] }] });
  await txn.abort();
  assert.equal(await offsetOf(), '-1', 'offset after an aborted transaction');
  txn = await producer.transaction();
  await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: 0, offset: '60' }] }] });
  await txn.commit();
  for (let i = 0; i < 50 && (await offsetOf()) !== '60'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await offsetOf(), '60', 'offset after a committed transaction');
  // Fencing: a second producer with the same transactionalId.
  txn = await producer.transaction();
  await txn.send({ topic, messages: [{ value: 'zombie', partition: 0 }] });
  const second = kafka.producer({ transactionalId: txnId, idempotent: true, maxInFlightRequests: 1 });
  await second.connect();
  // kafkajs sends InitProducerId with the first transaction: that fences the first producer.
  const t2 = await second.transaction();
  let fenced = null;
  try {
    await txn.commit();
  } catch (e) {
    fenced = e;
  }
  assert.ok(fenced, 'the fenced producer could commit');
  assert.match(String(fenced.type || fenced.name || fenced), /FENCED|EPOCH/, `fencing error: ${fenced}`);
  await t2.send({ topic, messages: [{ value: 'live', partition: 0 }] });
  await t2.commit();
  const after = await readGroup(topic, 131, false);
  assert.deepEqual(after.slice(130), ['live'], 'read_committed after fencing');
  await producer.disconnect().catch(() => {});
  await second.disconnect();
  await admin.disconnect();
}

async function main() {
  const [cmd, arg, phase] = process.argv.slice(2);
  const t0 = Date.now();
  if (cmd === 'codec') await codecCheck(arg, phase);
  else if (cmd === 'admin') await adminCheck();
  else if (cmd === 'txn') await txnCheck();
  else throw new Error(`unknown command ${cmd}`);
  console.log(`OK (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

main().then(() => process.exit(0), (e) => {
  console.log(`FAILED: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
