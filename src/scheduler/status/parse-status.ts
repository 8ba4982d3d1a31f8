// Reads the status section into plain records.
import { child, childrenOf, type XmlElement } from '../xml.js';
import type { NodeStateRecord, OpRecord, ResourceHistory } from './model.js';

function int(v: string | undefined, dflt: number): number {
  if (v === undefined || !/^-?\d+$/.test(v.trim())) return dflt;
  return parseInt(v, 10);
}

export function parseOp(el: XmlElement): OpRecord {
  const key = el.attrs['transition-key'];
  let expectedRc = -1;
  if (key) {
    const parts = key.split(':');
    if (parts.length >= 3) expectedRc = int(parts[2], -1);
  }
  let rc = int(el.attrs['rc-code'], -1);
  let opStatus = int(el.attrs['op-status'], 0);
  if (el.attrs['rc-code'] === undefined || el.attrs['op-status'] === undefined) {
    // Old histories keep the result only in transition-magic "status:rc;key".
    const magic = el.attrs['transition-magic'];
    const m = magic ? /^(-?\d+):(-?\d+);/.exec(magic) : null;
    if (m) {
      if (el.attrs['op-status'] === undefined) opStatus = int(m[1], 0);
      if (el.attrs['rc-code'] === undefined) rc = int(m[2], -1);
    }
  }
  return {
    id: el.attrs['id'] ?? '',
    task: el.attrs['operation'] ?? '',
    intervalMs: int(el.attrs['interval'], 0),
    callId: int(el.attrs['call-id'], -1),
    rc, opStatus, expectedRc,
    lastRcChange: el.attrs['last-rc-change'] !== undefined ? int(el.attrs['last-rc-change'], 0) : (el.attrs['last-run'] !== undefined ? int(el.attrs['last-run'], 0) : undefined),
    exitReason: el.attrs['exit-reason'],
    opDigest: el.attrs['op-digest'],
    restartDigest: el.attrs['op-restart-digest'],
    // Name lists are matched as " name "; the XML reader trims the outer spaces.
    forceRestart: spaced(el.attrs['op-force-restart']),
    secureDigest: el.attrs['op-secure-digest'],
    secureParams: spaced(el.attrs['op-secure-params']),
    featureSet: el.attrs['crm_feature_set'],
  };
}

function spaced(list: string | undefined): string | undefined {
  return list === undefined ? undefined : ` ${list} `;
}

export function parseStatus(root: XmlElement): NodeStateRecord[] {
  const status = child(root, 'status');
  if (!status) return [];
  // A node_state without an id cannot be matched to a node; Pacemaker skips it too.
  return childrenOf(status, 'node_state').filter((ns) => ns.attrs['id'] !== undefined).map((ns) => {
    const id = ns.attrs['id']!;
    const transientAttrs: Record<string, string> = {};
    for (const ta of childrenOf(ns, 'transient_attributes')) {
      for (const set of childrenOf(ta, 'instance_attributes')) {
        for (const nv of childrenOf(set, 'nvpair')) {
          if (nv.attrs['name'] !== undefined && !(nv.attrs['name'] in transientAttrs)) transientAttrs[nv.attrs['name']] = nv.attrs['value'] ?? '';
        }
      }
    }
    const history: ResourceHistory[] = [];
    const lrm = child(ns, 'lrm');
    const lrmRscs = lrm ? child(lrm, 'lrm_resources') : undefined;
    for (const lr of lrmRscs ? childrenOf(lrmRscs, 'lrm_resource') : []) {
      history.push({
        rscId: lr.attrs['id'] ?? '', class: lr.attrs['class'], provider: lr.attrs['provider'], type: lr.attrs['type'],
        ops: childrenOf(lr, 'lrm_rsc_op').map(parseOp),
      });
    }
    return {
      id, uname: ns.attrs['uname'], inCcm: ns.attrs['in_ccm'], crmd: ns.attrs['crmd'], join: ns.attrs['join'],
      expected: ns.attrs['expected'], transientAttrs, history,
    };
  });
}
