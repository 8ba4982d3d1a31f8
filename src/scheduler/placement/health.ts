// Node health (node-health-strategy): "#health*" node attributes turn into location scores
// for every resource, and red/yellow nodes are shown as such in the node list.
import type { LocationConstraint } from '../cib/model.js';
import { INFINITY, addScores, isTrue, parseScore } from '../score.js';
import type { NodeInfo } from '../status/model.js';
import type { WorkingSet } from '../working-set.js';
import { flattenSets } from '../cib/parse.js';

export type HealthStrategy = 'none' | 'migrate-on-red' | 'only-green' | 'progressive' | 'custom';

interface ColourScores { readonly red: number; readonly yellow: number; readonly green: number }

export function healthStrategy(ws: WorkingSet): HealthStrategy {
  const s = (ws.config.options.raw['node-health-strategy'] ?? 'none').trim().toLowerCase();
  return s === 'migrate-on-red' || s === 'only-green' || s === 'progressive' || s === 'custom' ? s : 'none';
}

function optionScore(ws: WorkingSet, name: string, fallback: number): number {
  return parseScore(ws.config.options.raw[name]) ?? fallback;
}

/** What "red", "yellow" and "green" are worth under the strategy. */
function colourScores(ws: WorkingSet, strategy: HealthStrategy): ColourScores {
  switch (strategy) {
    case 'none': return { red: 0, yellow: 0, green: 0 };
    case 'migrate-on-red': return { red: -INFINITY, yellow: 0, green: 0 };
    case 'only-green': return { red: -INFINITY, yellow: -INFINITY, green: 0 };
    default: return {
      red: optionScore(ws, 'node-health-red', -INFINITY),
      yellow: optionScore(ws, 'node-health-yellow', 0),
      green: optionScore(ws, 'node-health-green', 0),
    };
  }
}

function attrScore(value: string, colours: ColourScores): number {
  const v = value.trim().toLowerCase();
  if (v === 'red') return colours.red;
  if (v === 'yellow') return colours.yellow;
  if (v === 'green') return colours.green;
  return parseScore(value) ?? 0;
}

function healthAttrs(n: NodeInfo): string[] {
  return [...n.attrs].filter(([k]) => k.startsWith('#health')).map(([, v]) => v);
}

/**
 * Location constraints the strategy adds, one per node with a non-zero health sum and
 * top-level resource; negative ones spare resources with allow-unhealthy-nodes=true.
 */
export function healthLocations(ws: WorkingSet): LocationConstraint[] {
  const strategy = healthStrategy(ws);
  if (strategy === 'none') return [];
  const colours = colourScores(ws, strategy);
  const base = strategy === 'progressive' ? optionScore(ws, 'node-health-base', 0) : 0;
  const out: LocationConstraint[] = [];
  for (const n of ws.nodes) {
    const health = healthAttrs(n).reduce((sum, v) => addScores(attrScore(v, colours), sum), base);
    if (health === 0) continue;
    for (const def of ws.config.resources) {
      if (health < 0 && isTrue(flattenSets(ws.config.rscDefaults, { ...def.meta })['allow-unhealthy-nodes'])) continue;
      out.push({ id: strategy, rsc: def.id, node: n.uname, score: health, rules: [], resourceSets: [],
        origin: `health of ${n.uname} (node-health-strategy=${strategy})` });
    }
  }
  return out;
}

/** A node's overall colour: -1 red, 0 yellow, 1 green (always green without a strategy). */
export function nodeHealth(ws: WorkingSet, n: NodeInfo): -1 | 0 | 1 {
  const strategy = healthStrategy(ws);
  if (strategy === 'none') return 1;
  const colours = colourScores(ws, strategy);
  let colour: -1 | 0 | 1 = 1;
  for (const value of healthAttrs(n)) {
    const v = value.trim().toLowerCase();
    if (v === 'red') return -1;
    if (v === 'yellow') { colour = 0; continue; }
    const score = attrScore(value, colours);
    if (score <= colours.red) return -1;
    if (score <= colours.yellow && colours.yellow !== colours.green) colour = 0;
  }
  return colour;
}
