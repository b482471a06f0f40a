import { render, screen } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import Controls from '$lib/components/Controls.svelte';
import { auditQuery, recordControls } from '$lib/audit';

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
