/**
 * Renders a kustomization the way `kubectl kustomize` does, for the fields k8s/ uses:
 * `resources` (manifest files and kustomization folders, rendered first), `patches` (JSON
 * patches, RFC 6902, with a target; applied with fast-json-patch, as kustomize applies them with
 * its own RFC 6902 library), then `images`. A field outside that set is refused rather than
 * ignored, so a kustomization this cannot render fails the test. test/deployment.e2e-spec.ts
 * compares the result with `kubectl kustomize` wherever kubectl (kustomize 4 or later) is
 * installed; CI has none, as Debian packages only kubectl 1.20.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { applyPatch, type Operation } from 'fast-json-patch';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

export type Json = Record<string, any>;

interface PatchEntry {
  path: string;
  target: { group?: string; version?: string; kind?: string; name?: string };
}

interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
}

const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'patches', 'images']);

export function readKustomization(dir: string): Json {
  const kustomization = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Json;
  const unknown = Object.keys(kustomization).filter((key) => !KNOWN_FIELDS.has(key));
  if (unknown.length > 0) throw new Error(`${dir}/kustomization.yaml: fields this renderer does not know: ${unknown.join(', ')}`);
  return kustomization;
}

export function renderKustomization(dir: string): Json[] {
  const kustomization = readKustomization(dir);
  const resources: Json[] = [];
  for (const entry of (kustomization.resources ?? []) as string[]) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      resources.push(...renderKustomization(path));
    } else {
      for (const document of parseAllDocuments(readFileSync(path, 'utf8'))) {
        if (document.errors.length > 0) throw new Error(`${path}: ${document.errors.map((e) => e.message).join('; ')}`);
        const doc = document.toJS() as Json | null;
        if (doc !== null) resources.push(doc);
      }
    }
  }
  for (const patch of (kustomization.patches ?? []) as PatchEntry[]) {
    const operations = parseYaml(readFileSync(join(dir, patch.path), 'utf8')) as Operation[];
    const targets = resources.filter((resource) => matches(resource, patch.target));
    if (targets.length === 0) throw new Error(`${dir}: patch ${patch.path} matches no resource`);
    for (const target of targets) applyPatch(target, operations, true, true);
  }
  for (const image of (kustomization.images ?? []) as ImageEntry[]) {
    for (const resource of resources) setImage(resource, image);
  }
  return resources;
}

function matches(resource: Json, target: PatchEntry['target']): boolean {
  const [group, version] = String(resource.apiVersion).includes('/') ? String(resource.apiVersion).split('/') : ['', resource.apiVersion];
  return (
    (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version) &&
    (target.kind === undefined || target.kind === resource.kind) &&
    (target.name === undefined || target.name === resource.metadata?.name)
  );
}

/** Every container and init container, at any depth, whose image has that name (any tag). */
function setImage(node: unknown, image: ImageEntry): void {
  if (Array.isArray(node)) {
    node.forEach((item) => setImage(item, image));
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  for (const [key, value] of Object.entries(node as Json)) {
    if ((key === 'containers' || key === 'initContainers') && Array.isArray(value)) {
      for (const container of value as Json[]) {
        const [name, tag] = splitImage(String(container.image));
        if (name === image.name) container.image = `${image.newName ?? name}${image.newTag ? `:${image.newTag}` : tag ? `:${tag}` : ''}`;
      }
    }
    setImage(value, image);
  }
}

function splitImage(reference: string): [string, string | undefined] {
  const colon = reference.lastIndexOf(':');
  return colon > reference.lastIndexOf('/') ? [reference.slice(0, colon), reference.slice(colon + 1)] : [reference, undefined];
}
