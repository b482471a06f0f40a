// The People pages' pure parts: which subscriptions grant a person, and how the audit log and
// usage name them.
import type { Schemas } from '$lib/api/client';

type Person = Pick<Schemas['UserOut'], 'email' | 'groups'>;

/** The subscriptions that grant `person`: those naming them (`spec.subject.user`, any case) or
 * one of their IdP groups (`spec.subject.group`, exact, as policy matches it). */
export function grantingSubscriptions(subscriptions: Schemas['Subscription'][], person: Person): Schemas['Subscription'][] {
	const email = person.email.toLowerCase();
	return subscriptions.filter((subscription) => {
		const subject = subscription.spec.subject;
		if (!subject) return false;
		if (subject.user) return subject.user.toLowerCase() === email;
		return subject.group ? person.groups.includes(subject.group) : false;
	});
}

/** Why a subscription applies to the person: "you" by email, else the group it names. */
export function grantedThrough(subscription: Schemas['Subscription']): string {
	const subject = subscription.spec.subject;
	if (subject?.user) return 'named';
	return subject?.group ? `group ${subject.group}` : '—';
}

/** The audit log's `actor` for a person's calls (docs/audit.md). */
export function personActor(email: string): string {
	return `user:${email}`;
}

/** Whether the person's access is revoked and they have not signed in since. */
export function signedOutByRevocation(person: Pick<Schemas['UserOut'], 'lastSeen' | 'revokedAt'>): boolean {
	if (!person.revokedAt) return false;
	if (!person.lastSeen) return true;
	return new Date(person.lastSeen).getTime() < new Date(person.revokedAt).getTime();
}
