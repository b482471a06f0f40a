// A server's health history: its health transitions from the change log (action `health`,
// detail `{health, error}`), written by the control plane only when the health changes
// (healthy, unhealthy, unknown), never for each check. Newest first, as the API lists them.
import type { Schemas } from '$lib/api/client';

export const HISTORY_SHOWN = 20;

export type HealthState = 'healthy' | 'unhealthy' | 'unknown';

export type HealthChange = {
	id: string;
	at: string;
	health: HealthState;
	error: string | null;
};

const STATES: readonly string[] = ['healthy', 'unhealthy', 'unknown'];

/** The health transitions among `changes` (others, and malformed ones, are left out), at most `shown`. */
export function healthHistory(changes: readonly Schemas['ChangeOut'][], shown: number = HISTORY_SHOWN): HealthChange[] {
	const found: HealthChange[] = [];
	for (const change of changes) {
		if (found.length >= shown) break;
		const health = change.detail.health;
		if (change.action !== 'health' || typeof health !== 'string' || !STATES.includes(health)) continue;
		const error = change.detail.error;
		found.push({ id: change.id, at: change.at, health: health as HealthState, error: typeof error === 'string' ? error : null });
	}
	return found;
}
