// The logging section: corosync checks these values after reading the file (logsys,
// exit code 7) with messages such as "unknown value for to_stderr."; we check the same
// values, for the section itself and for each logger_subsys.

import { ConfigView, q } from './view.js';

interface Rule {
  allowed: readonly string[];
  message: string;
}

const SWITCH = ['yes', 'no', 'on', 'off'];
const ON_OFF = ['on', 'off'];
const PRIORITIES = ['emerg', 'alert', 'crit', 'err', 'error', 'warning', 'notice', 'info', 'debug'];
const FACILITIES = ['auth', 'authpriv', 'cron', 'daemon', 'ftp', 'kern', 'lpr', 'mail', 'news', 'syslog', 'user', 'uucp'].concat(
  [0, 1, 2, 3, 4, 5, 6, 7].map((n) => `local${n}`),
);

const RULES = new Map<string, Rule>();
for (const k of ['to_stderr', 'to_logfile', 'to_syslog']) RULES.set(k, { allowed: SWITCH, message: `unknown value for ${k}.` });
for (const k of ['fileline', 'function_name', 'blackbox']) RULES.set(k, { allowed: ON_OFF, message: `unknown value for ${k}.` });
RULES.set('debug', { allowed: ['on', 'off', 'trace'], message: 'unknown value for debug.' });
RULES.set('timestamp', { allowed: ['on', 'off', 'hires'], message: 'unknown value for timestamp.' });
RULES.set('syslog_facility', { allowed: FACILITIES, message: 'unknown syslog facility specified.' });
RULES.set('syslog_priority', { allowed: PRIORITIES, message: 'unknown syslog priority specified.' });
RULES.set('logfile_priority', { allowed: PRIORITIES, message: 'unknown logfile priority specified.' });

export function checkLogging(v: ConfigView): void {
  for (const e of v.tree.entries.values()) {
    const m = /^logging\.(?:logger_subsys\.[^.]+\.)?([^.]+)$/.exec(e.key);
    const rule = m ? RULES.get(m[1]!) : undefined;
    if (rule && !rule.allowed.includes(e.value)) {
      v.fail('COROSYNC_CONF_BAD_VALUE', e.line, `${rule.message} (${e.key} is ${q(e.value)}; expected ${rule.allowed.join(', ')})`);
    }
  }
}
