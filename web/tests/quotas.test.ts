import { describe, expect, it } from 'vitest';
import { quotaOwner, quotaUse, subscriptionHref, type Quota } from '$lib/quotas';

const quota: Quota = {
	subscription: 'ana files',
	client: 'ana',
	subject: null,
	server: 'files',
	period: 'day',
	limit: 10,
	used: 8,
	usedFraction: 0.8
};

describe('quotas near their limit', () => {
	it('names the client, person or group', () => {
		expect(quotaOwner(quota)).toBe('ana');
		expect(quotaOwner({ ...quota, client: null, subject: { user: 'ana@example.com' } })).toBe('person ana@example.com');
		expect(quotaOwner({ ...quota, client: null, subject: { group: 'nurses' } })).toBe('group nurses');
	});

	it('says how much is used in which period', () => {
		expect(quotaUse(quota)).toBe('8 of 10 today (80 %)');
		expect(quotaUse({ ...quota, period: 'month', used: 100, limit: 100, usedFraction: 1 })).toBe(
			'100 of 100 this month (100 %, exhausted)'
		);
	});

	it('links to the subscription', () => {
		expect(subscriptionHref('/ui', quota)).toBe('/ui/subscriptions?client=ana#subscription-ana%20files');
		expect(subscriptionHref('/ui', { ...quota, client: null, subject: { group: 'g' } })).toBe(
			'/ui/subscriptions#subscription-ana%20files'
		);
	});
});
