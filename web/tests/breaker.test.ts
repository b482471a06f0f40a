import { describe, expect, it } from 'vitest';
import { breakerOf, breakerText, shownHealth } from '$lib/breaker';

const open = {
	state: 'open',
	since: '2026-12-06T21:19:46Z',
	until: '2026-12-06T21:19:56Z',
	lastError: 'upstream_timeout',
	workers: 2,
	workersOpen: 1
};

describe('an upstream circuit breaker on the overview', () => {
	it('reads a server with no breaker reported as closed', () => {
		expect(breakerOf({ health: 'healthy' }).state).toBe('closed');
		expect(breakerOf({ breaker: 'garbage' }).state).toBe('closed');
		expect(breakerOf(undefined).workers).toBe(0);
	});

	it('shows an open breaker as down even while health pings pass', () => {
		expect(shownHealth('healthy', breakerOf({ breaker: open }))).toBe('unhealthy');
		expect(shownHealth('healthy', breakerOf({ breaker: { ...open, state: 'half-open' } }))).toBe('healthy');
		expect(shownHealth(undefined, breakerOf({}))).toBe('unknown');
	});

	it('says since when, why and how many workers', () => {
		const text = breakerText(breakerOf({ breaker: open }), (iso) => iso.slice(11, 19));
		expect(text).toBe('breaker open since 21:19:46 (upstream_timeout), 1 of 2 workers');
		const half = breakerText(breakerOf({ breaker: { ...open, state: 'half-open', workersOpen: 1, workers: 1 } }), (iso) =>
			iso.slice(11, 19)
		);
		expect(half).toBe('breaker half-open since 21:19:46 (upstream_timeout), 1 of 1 worker; the next call decides');
	});
});
