import { Type, type Static } from '@sinclair/typebox';
import { injectable } from 'tsyringe';
import type { PluginContext, PluginManifest, TideflowPlugin } from '../../core/plugin/plugin.js';

const ChattyConfig = Type.Object(
  {
    /** Lines logged at info by each attempt, `line <i> of attempt <n>` with field `i`. */
    lines: Type.Integer({ minimum: 0, default: 0 }),
    /** One more warn line whose `blob` field is this many bytes. */
    longLineBytes: Type.Integer({ minimum: 0, default: 0 }),
    /** Fail the first N attempts. */
    failTimes: Type.Integer({ minimum: 0, default: 0 }),
    /** Then wait this long, honouring the run's AbortSignal (ends at once when cancelled). */
    waitMs: Type.Integer({ minimum: 0, default: 0 }),
    /** Return `{ blob }` of this many bytes instead of `{ echoed: input, attempt }`. */
    outputBytes: Type.Integer({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false },
);
type ChattyConfig = Static<typeof ChattyConfig>;

/** Test plugin that logs through ctx.log as configured, may fail or wait (honouring its signal), and echoes its input. */
@injectable()
export class ChattyPlugin implements TideflowPlugin {
  static readonly manifest = { name: 'chatty', version: '1.0.0', configSchema: ChattyConfig } satisfies PluginManifest;

  async run(input: unknown, ctx: PluginContext<ChattyConfig>) {
    const { lines, longLineBytes, failTimes, waitMs, outputBytes } = ctx.config;
    for (let i = 1; i <= lines; i++) ctx.log.info({ i }, `line ${i} of attempt ${ctx.attempt}`);
    if (longLineBytes) ctx.log.warn({ blob: 'x'.repeat(longLineBytes) }, 'a long line');
    if (waitMs) {
      ctx.log.info(`waiting ${waitMs} ms`);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, waitMs);
        const onAbort = () => {
          clearTimeout(timer);
          ctx.log.info('signal received: stopping');
          reject(ctx.signal.reason as Error);
        };
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    if (ctx.attempt <= failTimes) throw new Error(`configured failure ${ctx.attempt}/${failTimes}`);
    return outputBytes ? { blob: 'y'.repeat(outputBytes) } : { echoed: input ?? null, attempt: ctx.attempt };
  }
}
