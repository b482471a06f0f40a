import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import ToolTable from '$lib/components/ToolTable.svelte';
import YamlView from '$lib/components/YamlView.svelte';
import type { Schemas } from '$lib/api/client';
import { toolRows } from '$lib/tools';
import type { Stored } from '$lib/yaml';

const MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">';

function tool(name: string, overrides: Partial<Schemas['ToolOut']> = {}): Schemas['ToolOut'] {
	return {
		server: 'files',
		name,
		description: `${name} a file`,
		inputSchema: {},
		tags: [],
		category: null,
		definitionHash: 'sha256:0',
		available: true,
		firstSeenAt: '2026-12-06T19:00:00Z',
		lastSyncedAt: '2026-12-06T19:00:00Z',
		...overrides
	};
}

const SERVER = {
	spec: {
		transport: 'stdio',
		trust: 'pin',
		tools: { delete: { tags: ['destructive'], sensitivity: 'high' }, read: { tags: [], category: 'data' } }
	}
} as unknown as Schemas['MCPServer'];

describe('a server’s tools', () => {
	const rows = toolRows(
		SERVER,
		[tool('read', { category: 'data' }), tool('delete', { tags: ['demo', 'destructive'] }), tool('write')],
		[
			{ tool: 'write', state: 'pending', change: 'changed' },
			{ tool: 'gone', state: 'rejected', change: 'removed' }
		]
	);

	it('carry the manifest’s sensitivity (low by default) and the catalog’s tags', () => {
		const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
		expect(rows.map((r) => r.name)).toEqual(['delete', 'gone', 'read', 'write']);
		expect(byName.delete).toMatchObject({ tags: ['demo', 'destructive'], sensitivity: 'high', declared: true });
		expect(byName.read).toMatchObject({ tags: ['data'], sensitivity: 'low', declared: false });
	});

	it('are pinned unless a change is held or rejected; a held removal is listed too', () => {
		expect(rows.map((r) => [r.name, r.definition, r.change, r.available])).toEqual([
			['delete', 'pinned', null, true],
			['gone', 'rejected', 'removed', false],
			['read', 'pinned', null, true],
			['write', 'held', 'changed', true]
		]);
	});

	it('are not pinned on a server with trust: auto', () => {
		const auto = { spec: { ...SERVER.spec, trust: 'auto' } } as unknown as Schemas['MCPServer'];
		expect(toolRows(auto, [tool('read')], []).map((r) => r.definition)).toEqual(['not pinned']);
	});

	it('link a held change to the server’s reviews and mark destructive tags', () => {
		render(ToolTable, { server: 'files & co', rows });
		const write = screen.getByRole('row', { name: /write/ });
		const link = within(write).getByRole('link');
		expect(link.textContent).toBe('held: changed — review');
		expect(link.getAttribute('href')).toBe('/ui/tool-reviews?server=files%20%26%20co');
		const deleting = screen.getByRole('row', { name: /delete/ });
		expect(within(deleting).getByText('destructive').className).toContain('risky');
		expect(within(deleting).getByTestId('tool-sensitivity').textContent).toBe('high');
		expect(within(deleting).getByTestId('tool-tags').textContent?.trim()).toBe('demo, destructive');
		expect(within(screen.getByRole('row', { name: /read/ })).getByTestId('tool-sensitivity').textContent).toBe(
			'low (default)'
		);
	});

	it('render a hostile name and description as text', () => {
		const { container } = render(ToolTable, {
			server: 'files',
			rows: toolRows(SERVER, [tool(MARKUP, { description: MARKUP, tags: [MARKUP] })], [])
		});
		expect(container.querySelector('img')).toBeNull();
		expect(container.querySelectorAll('script')).toHaveLength(0);
	});
});

describe('an object’s YAML', () => {
	const object = {
		apiVersion: 'giru.ai/v1alpha1',
		kind: 'Subscription',
		metadata: { name: 'ci-files', resourceVersion: 4, createdAt: '2026-12-06T19:00:00Z' },
		spec: { client: 'ci', server: 'files', note: MARKUP },
		status: { usedToday: 3 }
	} as unknown as Stored;

	it('is the manifest giru apply takes (no status, no server-set metadata), shown once opened', async () => {
		const { container } = render(YamlView, { object });
		expect(screen.queryByTestId('yaml')).toBeNull();
		const details = container.querySelector('details') as HTMLDetailsElement;
		details.open = true;
		await fireEvent(details, new Event('toggle'));
		const yaml = (await screen.findByTestId('yaml')).textContent ?? '';
		expect(yaml).toBe(
			`apiVersion: giru.ai/v1alpha1\nkind: Subscription\nmetadata:\n  name: ci-files\nspec:\n  client: ci\n  server: files\n  note: ${MARKUP}\n`
		);
		expect(container.querySelector('img')).toBeNull();
	});

	it('downloads as <name>.yaml', async () => {
		const createObjectURL = vi.fn(() => 'blob:x');
		Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() });
		render(YamlView, { object, open: true });
		await screen.findByTestId('yaml');
		await fireEvent.click(screen.getByRole('button', { name: 'Download YAML' }));
		expect(createObjectURL).toHaveBeenCalledOnce();
	});
});
