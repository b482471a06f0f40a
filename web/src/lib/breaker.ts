// An upstream's circuit breaker as the servers API reports it (`status.breaker`): the worst
// state across the gateway workers that reported one. An open breaker means calls are refused,
// so the server reads as down whatever its health pings say.

export type BreakerState = 'open' | 'half-open' | 'closed';

export interface Breaker {
	state: BreakerState;
	since: string | null;
	until: string | null;
	lastError: string | null;
	workers: number;
	workersOpen: number;
}

const CLOSED: Breaker = { state: 'closed', since: null, until: null, lastError: null, workers: 0, workersOpen: 0 };

/** The breaker of a server's free-form status (closed when absent or malformed). */
export function breakerOf(status: Record<string, unknown> | null | undefined): Breaker {
	const found = status?.breaker;
	if (found === null || typeof found !== 'object') return CLOSED;
	const b = found as Partial<Breaker>;
	const state = b.state === 'open' || b.state === 'half-open' ? b.state : 'closed';
	return {
		state,
		since: typeof b.since === 'string' ? b.since : null,
		until: typeof b.until === 'string' ? b.until : null,
		lastError: typeof b.lastError === 'string' ? b.lastError : null,
		workers: typeof b.workers === 'number' ? b.workers : 0,
		workersOpen: typeof b.workersOpen === 'number' ? b.workersOpen : 0
	};
}

/** The health to show: an open breaker makes a server down (its calls are refused at once). */
export function shownHealth(health: string | null | undefined, breaker: Breaker): string {
	return breaker.state === 'open' ? 'unhealthy' : (health ?? 'unknown');
}

/** One line for people: "breaker open since 21:19:46 (upstream_timeout), 1 of 2 workers". */
export function breakerText(breaker: Breaker, time: (iso: string) => string = clock): string {
	if (breaker.state === 'closed') return 'breaker closed';
	const since = breaker.since ? ` since ${time(breaker.since)}` : '';
	const error = breaker.lastError ? ` (${breaker.lastError})` : '';
	const workers = `${breaker.workersOpen} of ${breaker.workers} worker${breaker.workers === 1 ? '' : 's'}`;
	const next = breaker.state === 'half-open' ? '; the next call decides' : '';
	return `breaker ${breaker.state}${since}${error}, ${workers}${next}`;
}

function clock(iso: string): string {
	const date = new Date(iso);
	return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
}
