/**
 * Types of the `clusterlab` comm protocol, version 1 (kernel side:
 * python/clusterlab/ui/comm.py; reference: docs/lab.md).
 */

export const PROTOCOL_VERSION = 1;
export const COMM_TARGET = 'clusterlab';

/** A request the panel sends. */
export interface IRequest {
  v: number;
  type: string;
  id: string;
  data: Record<string, unknown>;
}

/** Error part of an `ok: false` reply. */
export interface IReplyError {
  message: string;
  fields?: Record<string, string>;
}

/** Any message from the kernel: a reply (`<type>.reply`, with `id`) or a push (`id` null). */
export interface IMessage {
  v: number;
  type: string;
  id: string | null;
  ok?: boolean;
  data?: any;
  error?: IReplyError;
}

export type FieldType =
  'text' | 'choice' | 'int' | 'float' | 'bool' | 'lines' | 'env' | 'resources';

/** One profile field as the kernel's `hello` reply describes it. */
export interface IFieldSchema {
  name: string;
  type: FieldType;
  default: unknown;
  label: string;
  tooltip: string;
  example: string;
  kinds: string[];
  choices: string[] | null;
}

export interface IHello {
  protocol: number;
  version: string;
  schema: IFieldSchema[];
  schedulers: string[];
  default_profile: string;
}

export type Profile = Record<string, unknown> & { name: string };

export interface IProfileItem extends Profile {
  builtin?: boolean;
}

export const JOB_STATES = [
  'SUBMITTING',
  'PENDING',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'LOST'
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** A ledger row (`jobs.list`). Times are seconds since the epoch. */
export interface IJob {
  id: string;
  kind: 'job' | 'array' | string;
  profile: string;
  name: string;
  native_id?: string;
  job_dir?: string;
  state: string;
  reason: string;
  submitted?: number;
  started?: number | null;
  ended?: number | null;
  size?: number;
  counts?: Record<string, number>;
  elapsed?: number | null;
  /** What it used, as a sentence (an array: its items' summary); absent until known. */
  usage_text?: string;
  /** Set when its request was far from what it used: "used 0.4 GB of 16 GB ...". */
  usage_hint?: string;
  /** "attempt 2 of 4" for a job that requeues or retries; absent or "" otherwise. */
  attempt_text?: string;
  [key: string]: unknown;
}

/** One entry of a pushed `job.event` batch. */
export interface IJobEvent {
  id: string;
  profile: string;
  /** The job's name (the function's, or `cell`) and submit time, when the kernel knows
   * them: a new row shows its real name at once. */
  name?: string;
  submitted?: number | null;
  kind: 'job' | 'array' | string;
  state: string;
  reason: string;
  native_id?: string;
  counts?: Record<string, number>;
  usage_text?: string;
  usage_hint?: string;
  attempt_text?: string;
}

export interface IJobEventBatch {
  events: IJobEvent[];
  time: number;
}

/** One step of `profiles.check`, pushed as `check.line` while it runs. */
export interface ICheckLine {
  name: string;
  ok: boolean;
  /** ok, warning (works, but read the detail) or error; absent from older kernels */
  level?: 'ok' | 'warning' | 'error';
  detail: string;
}

export interface ICheckReport {
  profile: string;
  ok: boolean;
  lines: ICheckLine[];
}

export interface IJobLogs {
  id: string;
  stream: 'stdout' | 'stderr';
  /** The rank whose log this is (0: the job's own) and how many the job ran (1 unless
   * it was submitted with tasks=N). */
  rank: number;
  ranks: number;
  text: string;
  /** The byte where `text` begins, and the stream's length in bytes. */
  start?: number;
  size?: number;
  truncated: boolean;
  state: string;
}

/** `job.follow`'s reply: whether the kernel pushes this log's new output (`job.output`)
 * from `offset` on, or why not (`reason`: the view then asks `job.logs` every 2 s). */
export interface IFollowReply {
  id: string;
  stream: 'stdout' | 'stderr';
  rank: number;
  offset: number;
  following: boolean;
  reason?: string;
}

/** Pushed `job.output`: bytes `offset`..`end` of a followed log, as text. `offset` past
 * the previous message's `end`: the bytes between were left out (more came in one
 * interval than a message holds); `ended`: the job ended and this was its last output. */
export interface IJobOutput {
  id: string;
  stream: 'stdout' | 'stderr';
  rank: number;
  offset: number;
  end: number;
  text: string;
  ended: boolean;
  state?: string;
  error?: string;
}

/** `job.result`: a finished job's value (its repr) or its traceback. */
export interface IJobResult {
  id: string;
  state: string;
  /** value: `text` is its repr (at most 2,000 characters); error: its traceback;
   * cancelled: why it has none */
  outcome: 'value' | 'error' | 'cancelled';
  text: string;
  truncated: boolean;
  /** The result file's length in bytes; null when unknown (older kernels: absent). */
  size?: number | null;
  /** False when the value is over the kernel's threshold and was not read (`text` is
   * empty): ask again with `load: true` to read it. Absent from older kernels. */
  loaded?: boolean;
}

/** One field of "Start a notebook on this cluster" (`kernels.list`). */
export interface IKernelField {
  name: string;
  label: string;
  tooltip: string;
  example: string;
}

/** An installed clusterlab kernelspec (`kernels.list`, `kernels.install`). */
export interface IKernelInfo {
  name: string;
  display_name: string;
  profile: string;
  resources: Record<string, unknown>;
  path: string;
}

export interface IKernelList {
  fields: IKernelField[];
  kernels: IKernelInfo[];
}

export interface IKernelInstall {
  kernel: IKernelInfo;
  reused: boolean;
}
