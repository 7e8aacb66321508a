/**
 * The panel's shared state: the kernel link, the profile list and the job list, kept
 * fresh by pushed `job.event` batches and a slow lumino Poll (backoff on failure,
 * standby when hidden). Views subscribe to `changed` and read from here.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  IJobFilter,
  IJobPage,
  isTerminal,
  listRequest,
  mergePageEvents,
  newlyEnded,
  PAGE_SIZE,
  replaceJobs
} from './jobs';
import { KernelLink } from './kernel';
import { LoginStates, logsIn } from './login';
import { OffPageJobs } from './offpage';
import {
  ICheckLine,
  ICheckReport,
  IHello,
  IJob,
  IJobEvent,
  IJobEventBatch,
  IJobLogs,
  IJobResult,
  IKernelList,
  IMessage,
  IProfileItem,
  Profile
} from './protocol';

export interface IPanelSettings {
  /** Seconds between job-list refreshes (events keep it live in between). */
  pollInterval: number;
  /** Longest interval after repeated failures (backoff), seconds. */
  maxPollInterval: number;
  /** Profile for "Insert %%cluster cell" when the panel has none selected. */
  defaultProfile: string;
  /** Seconds a request waits for the kernel's reply. */
  requestTimeout: number;
}

export const DEFAULT_SETTINGS: IPanelSettings = {
  pollInterval: 15,
  maxPollInterval: 300,
  defaultProfile: '',
  requestTimeout: 60
};

/** Where "Clear finished" was kept before it moved to the ledger: emptied on load. */
export const CLEARED_KEY = 'clusterlab:cleared-jobs';

export class PanelModel {
  constructor(readonly link: KernelLink) {
    try {
      globalThis.localStorage?.removeItem(CLEARED_KEY); // the ledger keeps it now
    } catch {
      // storage disabled: nothing was kept there
    }
    link.pushed.connect(this._onPushed, this);
    link.connected.connect(this._onConnected, this);
    link.changed.connect(() => this._changed.emit('link'), this);
    this.logins = new LoginStates(
      (type, data, options) => link.request(type, data, options),
      () => this._changed.emit('profiles')
    );
    this._poll = new Poll({
      auto: false,
      factory: () => this.refreshJobs(),
      frequency: {
        interval: DEFAULT_SETTINGS.pollInterval * 1000,
        backoff: true,
        max: DEFAULT_SETTINGS.maxPollInterval * 1000
      },
      name: 'clusterlab:jobs',
      standby: 'when-hidden'
    });
  }

  /** The login state of each profile that logs in to a host, and Log in / Log out. */
  readonly logins: LoginStates;

  /** Opens a new notebook with the kernelspec `kernelName` (set by the plugin, which
   * holds the app's commands; the panel's tests leave the default, which refuses). */
  openNotebook: (kernelName: string) => Promise<void> = async () => {
    throw new Error('this panel cannot open notebooks');
  };

  /** The fields of "Start a notebook on this cluster" and the installed kernels. */
  kernelList(): Promise<IKernelList> {
    return this.link.request('kernels.list');
  }

  /** 'link' | 'profiles' | 'jobs' | 'settings': what changed. */
  get changed(): ISignal<this, string> {
    return this._changed;
  }

  /** Jobs that were active here and have just ended (for the "job ended" notice). */
  get ended(): ISignal<this, IJob[]> {
    return this._ended;
  }

  get hello(): IHello | null {
    return this.link.hello;
  }

  get profiles(): IProfileItem[] {
    return this._profiles;
  }

  get jobs(): IJob[] {
    return this._jobs;
  }

  /** The jobs the list shows: the kernel's `jobs.list` leaves out those "Clear
   * finished" hid (kept in the ledger, so every browser and kernel agrees). */
  get shownJobs(): IJob[] {
    return this._jobs;
  }

  /** How many jobs "Clear finished" hid (the last `jobs.list` says). */
  get clearedCount(): number {
    return this._cleared;
  }

  /**
   * Hide every finished job from the list of every panel: the mark is kept in the
   * ledger (`jobs.clear`), whose rows stay, so `cl.jobs()`, `cl.job(id)` and the
   * `clusterlab` command still find them.
   */
  async clearFinished(): Promise<void> {
    await this.link.request('jobs.clear');
    await this.refreshJobs();
  }

  /** Show the jobs "Clear finished" hid again (in every panel). */
  async unclear(): Promise<void> {
    await this.link.request('jobs.unclear');
    await this.refreshJobs();
  }

  get jobsTotal(): number {
    return this._jobsTotal;
  }

  get jobsError(): string {
    return this._jobsError;
  }

  get settings(): IPanelSettings {
    return this._settings;
  }

  /** The profile selected in the panel (used by "Insert %%cluster cell"). */
  get selectedProfile(): string | null {
    return this._selected;
  }

  set selectedProfile(name: string | null) {
    if (name !== this._selected) {
      this._selected = name;
      this._changed.emit('selection');
    }
  }

  filter: IJobFilter = {};

  /** Filter the list: applied to the page at once, then asked of the ledger (every page),
   * from the first page. Typing in the search box asks once it pauses. */
  setFilter(filter: IJobFilter): void {
    const typed = (filter.text ?? '') !== (this.filter.text ?? '');
    this.filter = filter;
    this._offset = 0;
    this._changed.emit('jobs');
    if (this._filterTimer !== null) {
      clearTimeout(this._filterTimer);
    }
    this._filterTimer = setTimeout(
      () => {
        this._filterTimer = null;
        void this.refreshJobs().catch(() => undefined);
      },
      typed ? 300 : 0
    );
  }

  /** The page of the ledger the list shows. */
  get page(): IJobPage {
    return { offset: this._offset, size: PAGE_SIZE };
  }

  /** Show the page that starts `offset` jobs from the newest (clamped by the kernel). */
  async showPage(offset: number): Promise<void> {
    this._offset = Math.max(0, Math.floor(offset));
    await this.refreshJobs();
  }

  /** The next (older) page, if there is one. */
  nextPage(): Promise<void> {
    return this.showPage(this._offset + PAGE_SIZE);
  }

  /** The previous (newer) page. */
  previousPage(): Promise<void> {
    return this.showPage(this._offset - PAGE_SIZE);
  }

  /** Finished jobs among all the listed ones (every page): what "Clear finished" hides. */
  get finishedCount(): number {
    return this._finished;
  }

  /** Profiles that have jobs in the ledger (for the filter menu; any page). */
  get ledgerProfiles(): string[] {
    return this._ledgerProfiles;
  }

  /** The profile a new `%%cluster` cell should name. */
  profileForCell(): string {
    return (
      this._selected ||
      this._settings.defaultProfile ||
      this.hello?.default_profile ||
      'local'
    );
  }

  updateSettings(settings: Partial<IPanelSettings>): void {
    this._settings = { ...this._settings, ...settings };
    const min = Math.max(1, this._settings.pollInterval);
    const max = Math.max(min, this._settings.maxPollInterval);
    this.link.timeout = this._settings.requestTimeout * 1000;
    this._poll.frequency = { interval: min * 1000, backoff: true, max: max * 1000 };
    this._changed.emit('settings');
  }

  /** Connect the kernel link (idempotent); polling starts after the first connection. */
  start(): void {
    if (!this.link.isStarted) {
      void this.link.start();
    }
  }

  /**
   * From page load, before the panel is shown: follow a kernel that already has
   * clusterlab (see `KernelLink.watch`), so job-end notifications work without opening
   * the panel and without starting or loading anything.
   */
  watch(): void {
    if (!this.link.isStarted) {
      void this.link.watch();
    }
  }

  async refresh(): Promise<void> {
    await Promise.all([this.refreshProfiles(), this.refreshJobs()]);
  }

  async refreshProfiles(): Promise<void> {
    try {
      const data = await this.link.request<{ profiles: IProfileItem[] }>(
        'profiles.list'
      );
      this._profiles = data.profiles;
      this._profilesError = '';
      // Read each login's state as the list shows (never logs in, never prompts).
      void this.logins.refresh(this._profiles.filter(logsIn).map(p => p.name));
    } catch (err) {
      this._profilesError = (err as Error).message;
    }
    this._changed.emit('profiles');
  }

  get profilesError(): string {
    return this._profilesError;
  }

  async refreshJobs(): Promise<void> {
    const events: IJobEvent[] = [];
    this._inflight.push(events);
    const asked = this.page;
    try {
      const data = await this.link.request<{
        jobs: IJob[];
        total: number;
        offset?: number;
        cleared?: number;
        finished?: number;
        profiles?: string[];
      }>('jobs.list', listRequest(this.filter, asked));
      if (asked.offset !== this._offset) {
        return; // another page was asked for since: its reply draws the list
      }
      // The kernel moves an offset past the end back to the last page.
      this._offset = data.offset ?? asked.offset;
      const now = Date.now() / 1000;
      this._setJobs(replaceJobs(data.jobs, events, now, this.page));
      this._jobsTotal = data.total;
      this._cleared = data.cleared ?? 0;
      this._finished =
        data.finished ?? this._jobs.filter(j => isTerminal(j.state)).length;
      this._ledgerProfiles = data.profiles ?? [];
      this._jobsError = '';
      this._changed.emit('jobs');
    } catch (err) {
      this._jobsError = (err as Error).message;
      this._changed.emit('jobs');
      throw err; // the Poll backs off
    } finally {
      this._inflight = this._inflight.filter(e => e !== events);
    }
  }

  validate(
    profile: Profile
  ): Promise<{ valid: boolean; errors: Record<string, string> }> {
    return this.link.request('profiles.validate', { profile }, { timeout: 15000 });
  }

  async save(profile: Profile, original: string | null): Promise<Profile> {
    const data = await this.link.request<{ profile: Profile }>('profiles.save', {
      profile,
      original
    });
    await this.refreshProfiles();
    return data.profile;
  }

  async remove(name: string): Promise<void> {
    await this.link.request('profiles.delete', { name });
    if (this._selected === name) {
      this._selected = null;
    }
    await this.refreshProfiles();
  }

  /** Every saved profile as TOML (the ipywidgets form's Export). */
  async exportProfiles(): Promise<string> {
    const data = await this.link.request<{ text: string }>('profiles.export', {});
    return data.text;
  }

  /** Save the profiles of an exported TOML text; their names. */
  async importProfiles(text: string): Promise<string[]> {
    const data = await this.link.request<{ profiles: string[] }>('profiles.import', {
      text
    });
    await this.refreshProfiles();
    return data.profiles;
  }

  /** Install a key on the profile's host with the password (used once, not kept), check
   * key login, save the profile with the key; `onStep` sees each step. Its name. */
  async setupKey(
    profile: Profile,
    password: string,
    keyFile: string,
    onStep: (text: string) => void
  ): Promise<string> {
    const data = await this.link.request<{ profile: Profile }>(
      'profiles.setup_key',
      { profile, password, key_file: keyFile },
      {
        timeout: 0, // connects with its own timeouts; it always replies
        onProgress: message => {
          if (message.type === 'key.step') {
            onStep(String(message.data.text));
          }
        }
      }
    );
    await this.refreshProfiles();
    return String(data.profile.name);
  }

  /** Test a profile (saved name or unsaved fields); `onLine` sees each step as it comes. */
  check(
    target: { name: string } | { profile: Profile },
    onLine: (line: ICheckLine) => void
  ): Promise<{ report: ICheckReport }> {
    return this.link.request('profiles.check', target, {
      timeout: 0, // a check has its own connect timeouts; it always replies
      onProgress: message => {
        if (message.type === 'check.line') {
          onLine(message.data.line as ICheckLine);
        }
      }
    });
  }

  async cancel(id: string): Promise<void> {
    const data = await this.link.request<{ id: string; state: string }>('job.cancel', {
      id
    });
    const now = Date.now() / 1000;
    const was = this._jobs.find(job => job.id === id);
    if (was && !isTerminal(was.state) && isTerminal(data.state)) {
      this._finished += 1;
    }
    this._jobs = this._jobs.map(job =>
      job.id === id
        ? { ...job, state: data.state, ended: isTerminal(data.state) ? now : job.ended }
        : job
    );
    this._changed.emit('jobs');
  }

  /** A job's (or item's) log; `rank` picks one rank of a job of several tasks. */
  logs(id: string, stream: 'stdout' | 'stderr', rank = 0): Promise<IJobLogs> {
    return this.link.request('job.logs', { id, stream, rank });
  }

  /** A finished job's value (bounded repr) or traceback; an array's is per item
   * (`ID:INDEX`). A large value is only measured unless `load` (the "Load" button). */
  result(id: string, load = false): Promise<IJobResult> {
    return this.link.request('job.result', load ? { id, load } : { id });
  }

  get activeJobs(): number {
    return this._jobs.filter(j => !isTerminal(j.state)).length;
  }

  dispose(): void {
    this._poll.dispose();
    this.link.dispose();
    Signal.clearData(this);
  }

  private _onConnected(_: KernelLink, hello: IHello): void {
    void hello;
    void this.refresh();
    void this._poll.start(); // no-op when already running
  }

  private _onPushed(_: KernelLink, message: IMessage): void {
    if (message.type !== 'job.event' || !message.data) {
      return;
    }
    const batch = message.data as IJobEventBatch;
    const events = Array.isArray(batch.events) ? batch.events : [];
    for (const pending of this._inflight) {
      pending.push(...events);
    }
    const known = new Set(this._jobs.map(j => j.id));
    const time = batch.time ?? Date.now() / 1000;
    const ended = this._offPage.follow(this._jobs, events, time);
    this._finished += ended.length;
    if (ended.length) {
      this._ended.emit(ended);
    }
    this._setJobs(mergePageEvents(this._jobs, events, time, this.page));
    this._changed.emit('jobs');
    // A new job on this page: read its ledger row (name, submit time) and the new total
    // soon, not at the next poll. Jobs of other pages wait for the poll.
    if (this._jobs.some(j => !known.has(j.id) && !j.id.includes(':'))) {
      this._refreshSoon();
    }
  }

  /** Replace the list, announcing jobs that ended (not on the first listing): those
   * of the page, and those followed off the page (see `_followOffPage`). */
  private _setJobs(jobs: IJob[]): void {
    const ended = this._listed ? newlyEnded(this._jobs, jobs) : [];
    ended.push(...this._offPage.pageChanged(this._jobs, jobs, ended));
    // "Clear finished (N)" counts jobs that end before the next jobs.list says anew.
    this._finished += ended.length;
    this._jobs = jobs;
    this._listed = true;
    if (ended.length) {
      this._ended.emit(ended);
    }
  }

  private _refreshSoon(): void {
    if (this._soon !== null) {
      return;
    }
    this._soon = setTimeout(() => {
      this._soon = null;
      void this.refreshJobs().catch(() => undefined);
    }, 500);
  }

  private _settings: IPanelSettings = { ...DEFAULT_SETTINGS };
  private _profiles: IProfileItem[] = [];
  private _profilesError = '';
  private _jobs: IJob[] = [];
  private _jobsTotal = 0;
  private _listed = false;
  private _cleared = 0;
  private _finished = 0;
  private _offset = 0;
  private _ledgerProfiles: string[] = [];
  private readonly _offPage = new OffPageJobs();
  private _filterTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly _ended = new Signal<this, IJob[]>(this);
  private _jobsError = '';
  private _selected: string | null = null;
  private _inflight: IJobEvent[][] = [];
  private _soon: ReturnType<typeof setTimeout> | null = null;
  private readonly _poll: Poll;
  private readonly _changed = new Signal<this, string>(this);
}
