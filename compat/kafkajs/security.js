// kafkajs 2.2.4 security checks (compat/kafkajs/run.sh, issue `security`): SASL over TLS
// with the test CA (brokers from lib.sh's start_security_brokers, addresses in SEC_*).
//
//   node security.js produce-consume scram-sha-512|plain   500 records as admin over
//                                  SASL_SSL, read back in a consumer group
//   node security.js wrong-password                        alice with a wrong password:
//                                  KafkaJSSASLAuthenticationError
'use strict';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Kafka, logLevel } = require('kafkajs');

const N = 500;
const ssl = { ca: [fs.readFileSync(path.join(process.env.SEC_DIR, 'ca.pem'))] };

function kafka(mechanism, username, password) {
  return new Kafka({
    clientId: 'runnel-compat-kafkajs-security',
    brokers: [process.env.SEC_SASL_SSL],
    ssl,
    sasl: { mechanism, username, password },
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
    connectionTimeout: 10000,
    requestTimeout: 30000,
  });
}

async function produceConsume(mechanism) {
  const k = kafka(mechanism, 'admin', process.env.SEC_ADMIN_PW);
  const topic = `kafkajs-${mechanism}-${crypto.randomBytes(5).toString('hex')}`;
  const admin = k.admin();
  await admin.connect();
  assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }), true);
  await admin.disconnect();
  const producer = k.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < N; i++) messages.push({ key: `k${i}`, value: `v${i}`, partition: 0 });
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  const consumer = k.consumer({ groupId: `${topic}-g` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${N} records in 60 s`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message.value.toString());
        if (got.length === N) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  assert.deepEqual(got, messages.map((m) => m.value));
  console.log(`${N} records over SASL_SSL ${mechanism}`);
}

async function wrongPassword() {
  for (const mechanism of ['scram-sha-512', 'plain']) {
    const admin = kafka(mechanism, 'alice', 'wrong').admin();
    try {
      await admin.connect();
      throw new Error(`${mechanism}: logged in with a wrong password`);
    } catch (e) {
      console.log(`saw (${mechanism}): ${e.name}: ${e.message}`);
      assert.equal(e.name, 'KafkaJSSASLAuthenticationError', `${mechanism}: error class`);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}

const [cmd, arg] = process.argv.slice(2);
const t0 = Date.now();
({ 'produce-consume': () => produceConsume(arg), 'wrong-password': wrongPassword })[cmd]()
  .then(() => { console.log(`OK (${((Date.now() - t0) / 1000).toFixed(1)}s)`); process.exit(0); })
  .catch((e) => { console.log(`FAILED: ${e.stack || e}`); process.exit(1); });
