// A server's tools as the Servers page shows them: governance from the server's manifest
// (tags, sensitivity) and each definition's trust state (pinned, or held for review).
import type { Schemas } from '$lib/api/client';

export type Definition = 'pinned' | 'held' | 'rejected' | 'not pinned';
export type ToolRow = {
	name: string;
	description: string;
	tags: string[];
	sensitivity: string;
	declared: boolean;
	available: boolean;
	definition: Definition;
	change: string | null;
};

type ToolSpec = { tags?: string[]; sensitivity?: string | null; category?: string | null };

/** One row per tool the catalog lists or a review holds (a removed tool may be only held). */
export function toolRows(
	server: Pick<Schemas['MCPServer'], 'spec'>,
	tools: Schemas['ToolOut'][],
	reviews: Pick<Schemas['ToolReview'], 'tool' | 'state' | 'change'>[]
): ToolRow[] {
	const specs = (server.spec.tools ?? {}) as Record<string, ToolSpec>;
	const held = new Map(reviews.map((r) => [r.tool, r]));
	const names = [...new Set([...tools.map((t) => t.name), ...held.keys()])].sort();
	const listed = new Map(tools.map((t) => [t.name, t]));
	return names.map((name) => {
		const tool = listed.get(name);
		const spec = specs[name];
		const review = held.get(name);
		const tags = [...(tool?.tags ?? spec?.tags ?? []), ...(tool?.category ? [tool.category] : [])];
		let definition: Definition = server.spec.trust === 'auto' ? 'not pinned' : 'pinned';
		if (review) definition = review.state === 'rejected' ? 'rejected' : 'held';
		return {
			name,
			description: tool?.description ?? '',
			tags: [...new Set(tags)],
			sensitivity: spec?.sensitivity ?? 'low',
			declared: Boolean(spec?.sensitivity),
			available: tool?.available ?? false,
			definition,
			change: review?.change ?? null
		};
	});
}
