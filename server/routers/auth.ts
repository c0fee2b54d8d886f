import { ZChangePasswordInput, ZLoginInput, ZMe, ZSessionGrant, ZSessionsEnded, ZSignupInput, type TSessionGrant } from '../schemas/auth.js';
import { changePassword, getCreator, logIn, signUp } from '../services/creators.js';
import { endOtherSessions, endSession, type SessionGrant } from '../services/sessions.js';
import { creatorProcedure, publicProcedure, router, tenantProcedure } from '../trpc.js';

const toSessionGrant = (grant: SessionGrant): TSessionGrant => ({
  creatorId: grant.creatorId,
  sessionToken: grant.sessionToken,
  expiresAt: grant.expiresAt.toISOString(),
});

export const authRouter = router({
  signup: publicProcedure
    .input(ZSignupInput)
    .output(ZSessionGrant)
    .mutation(async ({ ctx, input }) => toSessionGrant(await signUp(ctx.rt, input, ctx.client))),

  login: publicProcedure
    .input(ZLoginInput)
    .output(ZSessionGrant)
    .mutation(async ({ ctx, input }) => toSessionGrant(await logIn(ctx.rt, input, ctx.client))),

  logout: creatorProcedure.mutation(async ({ ctx }) => {
    await endSession(ctx.rt, ctx.auth);
  }),

  /** A new password (the current one verifies); every other session ends. */
  changePassword: creatorProcedure
    .input(ZChangePasswordInput)
    .output(ZSessionsEnded)
    .mutation(async ({ ctx, input }) => ({ sessions_ended: (await changePassword(ctx.rt, ctx.auth, input, ctx.client)).sessionsEnded })),

  /** "Sign out everywhere else": every session but this one ends. */
  logoutOthers: creatorProcedure.output(ZSessionsEnded).mutation(async ({ ctx }) => ({ sessions_ended: await endOtherSessions(ctx.rt, ctx.auth) })),

  me: tenantProcedure('any')
    .output(ZMe)
    .query(async ({ ctx }) => {
      const creator = await getCreator(ctx.rt, ctx.creatorId);
      return {
        creator_id: creator.id,
        email: creator.email,
        name: creator.name,
        auth: ctx.auth.kind,
        key: ctx.auth.kind === 'api_key' ? { prefix: ctx.auth.prefix, scopes: ctx.auth.scopes } : null,
      };
    }),
});
