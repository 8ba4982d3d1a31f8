import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionState, DiskState, Role } from '../../src/volume/states.js';

test('state numbering follows DRBD 8.4 so range comparisons work', () => {
  assert.equal(DiskState.UpToDate, 8);
  assert.equal(DiskState.Inconsistent, 4);
  assert.equal(ConnectionState.Connected, 10);
  assert.ok(ConnectionState.SyncSource > ConnectionState.Connected);
  assert.equal(Role.Secondary, 2);
});
