/**
 * Telling a cluster kernel (a notebook kernel that runs in a job of a profile, issue 31)
 * from a local one, by its kernelspec's `metadata.clusterlab` (written by
 * `cl.kernels.install`; the kernelspec's name may be anything). The panel never talks
 * to such a kernel: it runs on a compute node, often without clusterlab, and its ledger
 * is not this machine's, so the panel keeps its background kernel there.
 */

/** What a kernelspec says about its cluster (the subset read here). */
export interface IClusterKernelInfo {
  profile: string;
  scheduler: string;
}

/** The cluster of a kernelspec model, or null for an ordinary kernel. */
export function clusterOfSpec(
  spec: { metadata?: Record<string, unknown> } | null | undefined
): IClusterKernelInfo | null {
  const meta = spec?.metadata?.clusterlab as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== 'object' || typeof meta.profile !== 'string') {
    return null;
  }
  return {
    profile: meta.profile,
    scheduler: typeof meta.scheduler === 'string' ? meta.scheduler : ''
  };
}

/** The cluster of a running kernel (its spec is asked once; a kernel whose spec cannot
 * be read counts as an ordinary one). */
export async function clusterOfKernel(kernel: {
  spec: Promise<{ metadata?: Record<string, unknown> } | undefined>;
}): Promise<IClusterKernelInfo | null> {
  try {
    return clusterOfSpec(await kernel.spec);
  } catch {
    return null;
  }
}
