import { render, screen, within } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { Schemas } from '$lib/api/client';
import { breakerOf } from '$lib/breaker';
import HealthHistory from '$lib/components/HealthHistory.svelte';
import { healthHistory } from '$lib/healthHistory';

const MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">';

function change(id: string, action: string, detail: Record<string, unknown>): Schemas['ChangeOut'] {
	return { id, at: `2026-12-07T01:0${id}:00Z`, actor: 'system', action, kind: 'MCPServer', name: 'files', version: null, detail };
}

describe('a server’s health history', () => {
	const changes = [
		change('5', 'health', { health: 'healthy', error: null }),
		change('4', 'sync', { added: 1, changed: 0, removed: 0 }),
		change('3', 'health', { health: 'unhealthy', error: 'connection refused' }),
		change('2', 'health', { health: 'sick', error: null }),
		change('1', 'health', { health: 'unknown' })
	];

	it('keeps the health transitions, newest first, and leaves other changes out', () => {
		expect(healthHistory(changes).map((c) => [c.id, c.health, c.error])).toEqual([
			['5', 'healthy', null],
			['3', 'unhealthy', 'connection refused'],
			['1', 'unknown', null]
		]);
	});

	it('shows at most the number asked for', () => {
		expect(healthHistory(changes, 2).map((c) => c.id)).toEqual(['5', '3']);
	});

	it('lists each transition with its badge and its error as text', () => {
		const history = healthHistory([
			change('6', 'health', { health: 'unhealthy', error: MARKUP }),
			change('5', 'health', { health: 'healthy', error: null })
		]);
		const { container } = render(HealthHistory, { changes: history, breaker: breakerOf({}), shown: 20 });
		const rows = within(screen.getByRole('table', { name: 'Health history' })).getAllByRole('row').slice(1);
		const cells = rows.map((row) => within(row).getAllByRole('cell').slice(1).map((cell) => cell.textContent?.trim()));
		expect(cells).toEqual([
			['down', MARKUP],
			['up', '']
		]);
		expect(container.querySelector('script, img')).toBeNull();
		expect(screen.getByText(/Circuit breaker now: breaker closed/)).toBeTruthy();
	});

	it('says when no change was recorded, and shows an open breaker', () => {
		const breaker = breakerOf({
			breaker: { state: 'open', since: null, until: null, lastError: 'upstream_timeout', workers: 1, workersOpen: 1 }
		});
		render(HealthHistory, { changes: [], breaker, shown: 20 });
		expect(screen.getByText('No health change recorded yet.')).toBeTruthy();
		expect(screen.getByText(/breaker open \(upstream_timeout\), 1 of 1 worker/)).toBeTruthy();
	});
});
