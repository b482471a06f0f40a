import { fireEvent, render, screen } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import Health from '$lib/components/Health.svelte';
import KeyOnce from '$lib/components/KeyOnce.svelte';
import Problem from '$lib/components/Problem.svelte';

const MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">';

describe('a new API key', () => {
	it('is shown with a copy button that puts exactly the key on the clipboard', async () => {
		const writeText = vi.fn(() => Promise.resolve());
		Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
		render(KeyOnce, { owner: 'ci', apiKey: 'giru_abc123', ondone: () => {} });
		expect(screen.getByTestId('api-key').textContent).toBe('giru_abc123');
		await fireEvent.click(screen.getByRole('button', { name: 'Copy key' }));
		expect(writeText).toHaveBeenCalledWith('giru_abc123');
		expect(screen.getByRole('button', { name: 'Copied' })).toBeTruthy();
	});

	it('asks to be dismissed once saved', async () => {
		const ondone = vi.fn();
		render(KeyOnce, { owner: 'ci', apiKey: 'giru_abc123', ondone });
		await fireEvent.click(screen.getByRole('button', { name: 'I have saved it' }));
		expect(ondone).toHaveBeenCalledOnce();
	});

	it('renders markup in its owner and key as text', () => {
		const { container } = render(KeyOnce, { owner: MARKUP, apiKey: MARKUP, ondone: () => {} });
		expect(container.querySelector('img')).toBeNull();
		expect(container.querySelectorAll('script')).toHaveLength(0);
		expect(screen.getByTestId('api-key').textContent).toBe(MARKUP);
	});
});

describe('upstream health', () => {
	it.each([
		['healthy', 'up'],
		['unhealthy', 'down'],
		['unknown', 'unknown'],
		[null, 'unknown']
	])('%s reads as %s', (health, label) => {
		render(Health, { health });
		expect(screen.getByText(label)).toBeTruthy();
	});

	it('reads as degraded when up with tool changes held for review', () => {
		render(Health, { health: 'healthy', held: 2 });
		expect(screen.getByText('degraded').getAttribute('title')).toBe('healthy; 2 tool changes held for review');
	});

	it('reads as down, not degraded, when down with tool changes held', () => {
		render(Health, { health: 'unhealthy', held: 2 });
		expect(screen.getByText('down')).toBeTruthy();
	});
});

describe('an API problem', () => {
	it('is announced as an alert, as text', () => {
		render(Problem, { message: MARKUP });
		expect(screen.getByRole('alert').textContent).toBe(MARKUP);
	});

	it('renders nothing without a message', () => {
		const { container } = render(Problem, { message: null });
		expect(container.textContent).toBe('');
	});
});
