import { render, screen } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import Controls from '$lib/components/Controls.svelte';
import type { Schemas } from '$lib/api/client';
import { auditQuery, recordControls } from '$lib/audit';
import { decidedRecords, parseExact, recordLabel } from '$lib/whatIf';

const MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">';

describe('the audit filters in the page URL', () => {
	it('pass a control to the API as written, with the other filters and the cursor', () => {
		const params = new URLSearchParams('control=HIPAA+164.312%28b%29&outcome=policy_denied&cursor=abc&target=');
		expect(auditQuery(params)).toEqual({ outcome: 'policy_denied', control: 'HIPAA 164.312(b)', cursor: 'abc' });
	});

	it('send times as RFC 3339', () => {
		const since = new Date(2026, 11, 6, 21, 0).toISOString();
		expect(auditQuery(new URLSearchParams({ since: '2026-12-06T21:00' }))).toEqual({ since });
	});
});

describe('the controls a record names', () => {
	it('are those its violations cite, then the others its decision had in scope, each once', () => {
		const details = {
			violations: [
				{ pack: 'pci_dss', control: 'PCI DSS Req 3.4' },
				{ pack: 'pci_dss', control: 'PCI DSS Req 3.4' }
			],
			policy: { controls: ['PCI DSS Req 10.2', 'PCI DSS Req 3.4'] }
		};
		expect(recordControls({ details })).toEqual({ cited: ['PCI DSS Req 3.4'], inScope: ['PCI DSS Req 10.2'] });
	});

	it.each([
		[{}],
		[{ violations: 'PCI DSS Req 3.4', policy: 'x' }],
		[{ violations: [null, 7, { control: 5 }], policy: { controls: [1, null, ''] } }]
	])('are none when the details hold something else (%j)', (details) => {
		expect(recordControls({ details })).toEqual({ cited: [], inScope: [] });
	});

	it('link each control to the records that name it, as text', () => {
		const { container } = render(Controls, { controls: ['HIPAA 164.312(b)', MARKUP] });
		const links = screen.getAllByRole('link');
		expect(links.map((a) => a.getAttribute('href'))).toEqual([
			'/ui/audit?control=HIPAA%20164.312(b)',
			`/ui/audit?control=${encodeURIComponent(MARKUP)}`
		]);
		expect(links[1]?.textContent).toBe(MARKUP);
		expect(container.textContent).toBe(`HIPAA 164.312(b); ${MARKUP}`);
		expect(container.querySelector('img')).toBeNull();
	});

	it('read as a dash when there are none', () => {
		const { container } = render(Controls, { controls: [] });
		expect(container.textContent).toBe('—');
	});
});

describe('the audit records the what-if panel offers', () => {
	const item = (eventId: string, details: Record<string, unknown>) =>
		({ eventId, actor: 'alice', server: 'kit', target: 'echo', outcome: 'allowed', details }) as unknown as Schemas['AuditItem'];

	it('are those that keep a decision input, newest first, at most the limit', () => {
		const records = [
			item('a', { input: { mcp: {} } }),
			item('b', { status: 200 }),
			item('c', { input: null }),
			item('d', { input: { mcp: {} } }),
			item('e', { input: { mcp: {} } })
		];
		expect(decidedRecords(records, 2).map((r) => r.eventId)).toEqual(['a', 'd']);
	});

	it('are named by client, server/tool and outcome', () => {
		expect(recordLabel({ actor: 'alice', server: 'kit', target: 'echo', outcome: 'policy_denied' })).toBe(
			'alice · kit/echo · policy_denied'
		);
		expect(recordLabel({ actor: 'bob', server: null, target: null, outcome: 'allowed' })).toBe('bob · — · allowed');
	});
});

describe('an input document read for the what-if panel', () => {
	it('keeps integers beyond 2^53 exact through parsing and writing back', () => {
		const text = '{"request":{"time_ns":1796609497827039726,"port":8080},"amount":1.5}';
		expect(JSON.stringify(parseExact(text))).toBe(text);
	});

	it('refuses what is not JSON', () => {
		expect(() => parseExact('{"mcp": ')).toThrow(SyntaxError);
	});
});
