// The per-cluster request quota: a cluster limited to 5 requests/s with a
// burst of 5 serves 5 requests at once and throttles the 6th without
// waiting for an HSM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN_CLUSTER_ID, openFacade, type Facade } from './fixture.js';

let facade: Facade;

beforeAll(async () => {
  facade = await openFacade('facade-throttle', { mainCluster: { requestsPerSecond: 5, burst: 5 } });
});

afterAll(async () => {
  await facade?.close();
});

function mainClusterStatus() {
  return facade.kms.clusterStatus().find((status) => status.clusterId === MAIN_CLUSTER_ID)!;
}

function mainClusterMetrics() {
  return facade.kms.metrics().find((metrics) => metrics.clusterId === MAIN_CLUSTER_ID)!;
}

describe('cluster quota', () => {
  it('6th immediate Encrypt is throttled', async () => {
    const key = await facade.createKey();
    const servedBefore = mainClusterStatus().hsms[0]!.requestsServed;

    // The quota is charged before the first await of each call, so issuing
    // the calls back to back charges all six within microseconds, far inside
    // the 200 ms a new token takes to arrive.
    const calls = Array.from({ length: 6 }, () => facade.kms.encrypt({ KeyId: key.Arn, Plaintext: Buffer.from('x') }));
    const firstToSettle = await Promise.race(
      calls.map((call, index) =>
        call.then(
          () => `call ${index} succeeded`,
          (error: Error) => `call ${index} failed with ${error.name}`,
        ),
      ),
    );
    const outcomes = await Promise.allSettled(calls);

    expect(firstToSettle).toBe('call 5 failed with ThrottlingException');
    expect(outcomes.slice(0, 5).map((outcome) => outcome.status)).toEqual(Array(5).fill('fulfilled'));
    expect(outcomes[5]).toMatchObject({ status: 'rejected', reason: { name: 'ThrottlingException' } });
    expect(mainClusterStatus().hsms[0]!.requestsServed).toBe(servedBefore + 5);

    const encryptMetrics = mainClusterMetrics().operations.Encrypt;
    expect(encryptMetrics?.requests).toBe(6);
    expect(encryptMetrics?.errors).toEqual({ ThrottlingException: 1 });
  });
});
