import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, it, vi } from 'vitest';
import ServerForm from '$lib/components/ServerForm.svelte';
import type { Schemas } from '$lib/api/client';
import { fieldsOf, manifestOf, placeProblems, type Applied, type Manifest } from '$lib/serverForm';

const MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">';

const FILES = {
	apiVersion: 'giru.ai/v1alpha1',
	kind: 'MCPServer',
	metadata: { name: 'files', resourceVersion: 3, managedBy: 'api' },
	spec: {
		transport: 'stdio',
		command: 'npx',
		args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv'],
		env: { LOG_LEVEL: 'debug' },
		url: null,
		headers: null,
		timeouts: { connect: 10, call: 60, callMax: 600 },
		tags: ['files'],
		tools: { delete: { tags: ['destructive'], sensitivity: 'high' } },
		auth: { type: 'static', secretRef: 'files-token', env: 'FILES_TOKEN' },
		enabled: true,
		isolation: 'shared',
		era: 'auto',
		catalog: { keepStale: true },
		trust: 'pin'
	},
	status: {}
} as unknown as Schemas['MCPServer'];

function answering(...results: Applied[]): ReturnType<typeof vi.fn> {
	const apply = vi.fn();
	for (const result of results) apply.mockResolvedValueOnce(result);
	return apply;
}

describe('the server form’s manifest', () => {
	it('keeps what the form does not show (auth, tools) and drops the other transport’s fields', () => {
		const fields = { ...fieldsOf('files', FILES.spec as Record<string, unknown>), transport: 'streamable-http', url: ' http://127.0.0.1:3002/mcp ' };
		const { spec, metadata } = manifestOf(fields, FILES.spec as Record<string, unknown>);
		expect(metadata).toEqual({ name: 'files' });
		expect(spec).toMatchObject({ transport: 'streamable-http', url: 'http://127.0.0.1:3002/mcp', tools: FILES.spec.tools, auth: FILES.spec.auth });
		for (const stdioOnly of ['command', 'args', 'env', 'cwd', 'headers']) expect(spec).not.toHaveProperty(stdioOnly);
	});

	it('reads lines, pairs and durations as a manifest would hold them', () => {
		const fields = {
			...fieldsOf('files'),
			transport: 'stdio',
			command: 'python',
			args: 'server.py\n\n--verbose\n',
			env: 'A=1\nB=x=y',
			tags: 'a, b,',
			call: '30s',
			callMax: '90'
		};
		const { spec } = manifestOf(fields);
		expect(spec).toMatchObject({ args: ['server.py', '--verbose'], env: { A: '1', B: 'x=y' }, tags: ['a', 'b'], timeouts: { call: '30s', callMax: 90 } });
		expect(spec.timeouts).not.toHaveProperty('connect');
	});

	it('places each problem beside the field its path names, list items and keys included', () => {
		const { byField } = placeProblems([
			{ field: 'spec.args[1]', reason: 'a' },
			{ field: 'spec.timeouts.callMax', reason: 'b' },
			{ field: 'spec.headers.Host', reason: 'c' },
			{ field: 'spec.auth.header', reason: 'd' }
		]);
		expect(Object.keys(byField).sort()).toEqual(['args', 'callMax', 'headers']);
	});
});

describe('the server form', () => {
	it('shows a dry run’s problems beside their fields, as text, and lists them all', async () => {
		const apply = answering({
			ok: false,
			message: '',
			problems: [
				{ field: 'spec.url', reason: `not a URL: ${MARKUP}` },
				{ field: 'spec.auth', reason: 'secret files-token does not exist' }
			]
		});
		render(ServerForm, { onsaved: vi.fn(), oncancel: vi.fn(), apply });
		await fireEvent.input(screen.getByLabelText('Name'), { target: { value: 'web' } });
		await fireEvent.click(screen.getByRole('button', { name: 'Validate' }));

		const url = screen.getByRole('textbox', { name: /^URL/ });
		await waitFor(() => expect(url.getAttribute('aria-invalid')).toBe('true'));
		const beside = window.document.getElementById(url.getAttribute('aria-describedby') ?? '');
		expect(beside?.textContent).toBe(`spec.url: not a URL: ${MARKUP}`);
		expect(beside?.querySelector('img, script')).toBeNull();
		const all = within(screen.getByTestId('problems'));
		expect(all.getByText('2 problem(s); nothing was applied:')).toBeTruthy();
		expect(all.getAllByRole('listitem').map((li) => li.textContent)).toEqual([
			`spec.url: not a URL: ${MARKUP}`,
			'spec.auth: secret files-token does not exist'
		]);
		const [sent, dryRun] = apply.mock.calls[0] as [Manifest, boolean];
		expect(dryRun).toBe(true);
		expect(sent).toMatchObject({ kind: 'MCPServer', metadata: { name: 'web' }, spec: { transport: 'streamable-http' } });
	});

	it('edits the loaded object: its name fixed, its fields filled, the rest of its spec kept', async () => {
		const onsaved = vi.fn();
		const apply = answering(
			{ ok: true, line: 'mcpserver/files configured (dry run)' },
			{ ok: true, line: 'mcpserver/files configured' }
		);
		render(ServerForm, { server: FILES, onsaved, oncancel: vi.fn(), apply });
		const name = screen.getByLabelText('Name') as HTMLInputElement;
		expect([name.value, name.readOnly]).toEqual(['files', true]);
		expect((screen.getByLabelText('Command') as HTMLInputElement).value).toBe('npx');
		expect((screen.getByLabelText(/^Arguments/) as HTMLTextAreaElement).value).toBe('-y\n@modelcontextprotocol/server-filesystem\n/srv');
		await fireEvent.input(screen.getByLabelText('Tags (comma-separated)'), { target: { value: 'files, internal' } });

		await fireEvent.click(screen.getByRole('button', { name: 'Validate' }));
		await waitFor(() => expect(screen.getByTestId('valid').textContent).toBe('Valid: mcpserver/files configured (dry run).'));
		await fireEvent.click(screen.getByRole('button', { name: 'Save changes' }));

		await waitFor(() => expect(onsaved).toHaveBeenCalledWith('files', 'mcpserver/files configured'));
		const [saved, dryRun] = apply.mock.calls[1] as [Manifest, boolean];
		expect(dryRun).toBe(false);
		expect(saved.spec).toMatchObject({ tags: ['files', 'internal'], tools: FILES.spec.tools, auth: FILES.spec.auth, env: { LOG_LEVEL: 'debug' } });
	});

	it('round-trips through the YAML tab, and sends what the YAML says', async () => {
		const apply = answering({ ok: false, message: '', problems: [{ field: 'spec.command', reason: 'required when transport is stdio' }] });
		render(ServerForm, { server: FILES, onsaved: vi.fn(), oncancel: vi.fn(), apply });
		await fireEvent.click(screen.getByRole('button', { name: 'YAML' }));
		const yaml = (await screen.findByLabelText(/^Manifest/)) as HTMLTextAreaElement;
		expect(yaml.value).toContain('kind: MCPServer\nmetadata:\n  name: files\n');
		expect(yaml.value).toContain('sensitivity: high');
		await fireEvent.input(yaml, { target: { value: yaml.value.replace('  command: npx\n', '') } });

		await fireEvent.click(screen.getByRole('button', { name: 'Validate' }));
		await waitFor(() => expect(screen.getByTestId('problems').textContent).toContain('spec.command: required when transport is stdio'));
		expect((apply.mock.calls[0] as [Manifest, boolean])[0].spec).not.toHaveProperty('command');
		await fireEvent.click(screen.getByRole('button', { name: 'Form' }));
		expect(((await screen.findByLabelText('Command')) as HTMLInputElement).value).toBe('');
	});

	it('says so when the YAML does not parse, and sends nothing', async () => {
		const apply = vi.fn();
		render(ServerForm, { onsaved: vi.fn(), oncancel: vi.fn(), apply });
		await fireEvent.click(screen.getByRole('button', { name: 'YAML' }));
		const yaml = await screen.findByLabelText(/^Manifest/);
		await fireEvent.input(yaml, { target: { value: 'spec: [unclosed' } });
		await fireEvent.click(screen.getByRole('button', { name: 'Validate' }));
		await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/^invalid YAML: /));
		expect(apply).not.toHaveBeenCalled();
	});
});
