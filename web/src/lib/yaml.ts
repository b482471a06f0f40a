import type { Schemas } from '$lib/api/client';

export type Stored = { apiVersion?: string; kind: string; metadata: Schemas['ObjectMeta']; spec: unknown };

/** An object as the manifest `giru apply` takes (apiVersion, kind, metadata.name, spec), in YAML. */
export async function manifestYaml(object: Stored): Promise<string> {
	const { stringify } = await import('yaml'); // loaded only where a YAML view is shown
	const document = {
		apiVersion: object.apiVersion ?? 'giru.ai/v1alpha1',
		kind: object.kind,
		metadata: { name: object.metadata.name },
		spec: object.spec
	};
	return stringify(document, { lineWidth: 0 });
}
