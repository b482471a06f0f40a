import { describe, expect, it } from 'vitest';
import { problemText } from '$lib/api/client';
import { ago, millis, percent, secondsAgo, webUrl } from '$lib/format';

describe('numbers on the overview', () => {
	it('shows rates as percentages and nothing to divide as a dash', () => {
		expect(percent(1, 8)).toBe('12.5%');
		expect(percent(0, 8)).toBe('0%');
		expect(percent(0, 0)).toBe('—');
	});

	it('shows durations in milliseconds', () => {
		expect(millis(3.14159)).toBe('3.1 ms');
		expect(millis(250.4)).toBe('250 ms');
		expect(millis(null)).toBe('—');
	});

	it('shows times relative to now', () => {
		const now = Date.parse('2026-01-01T12:00:00Z');
		expect(ago('2026-01-01T11:59:30Z', now)).toBe('30 s ago');
		expect(ago('2026-01-01T11:50:00Z', now)).toBe('10 min ago');
		expect(ago('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
		expect(ago(null, now)).toBe('never');
		expect(secondsAgo(3600, now)).toBe('2026-01-01T11:00:00.000Z');
	});
});

describe('API problems', () => {
	it('read as their title, detail and field reasons', () => {
		const problem = { title: 'Invalid', detail: 'bad name', errors: [{ field: 'metadata.name', reason: 'too long' }] };
		expect(problemText(problem, 422)).toBe('Invalid — bad name — metadata.name: too long');
	});

	it('fall back to the status', () => {
		expect(problemText(undefined, 503)).toBe('The API answered 503.');
		expect(problemText(undefined)).toBe('The API could not be reached.');
	});
});

describe('links the UI shows', () => {
	it('keeps http and https URLs and refuses any other scheme', () => {
		expect(webUrl('http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736')).toBe(
			'http://jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736'
		);
		expect(webUrl('https://traces.example.com/t/1')).toBe('https://traces.example.com/t/1');
		expect(webUrl('javascript:alert(1)')).toBeNull();
		expect(webUrl('data:text/html,hi')).toBeNull();
		expect(webUrl('/relative/trace')).toBeNull();
		expect(webUrl(null)).toBeNull();
	});
});
