import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { rateLimited } from '../errors.js';

export type AuthRateLimiter = {
  /** Counts one sign-up or log-in attempt; throws 429 once the email or the IP is over its budget. */
  consume: (input: { action: 'login' | 'signup'; email: string; ip: string }) => Promise<void>;
  /**
   * Gives back a log-in attempt that proved the password: the budget is against guessing, so a
   * creator who gets it right (several browsers, teammates, scripts) is never locked out by it.
   */
  refund: (input: { action: 'login'; email: string; ip: string }) => Promise<void>;
};

export function createAuthRateLimiter(options: { perEmail: number; perIp: number; windowSeconds: number }): AuthRateLimiter {
  const byEmail = new RateLimiterMemory({ keyPrefix: 'auth-email', points: options.perEmail, duration: options.windowSeconds });
  const byIp = new RateLimiterMemory({ keyPrefix: 'auth-ip', points: options.perIp, duration: options.windowSeconds });
  const emailKey = (action: string, email: string) => `${action}:${email.trim().toLowerCase()}`;
  return {
    async consume({ action, email, ip }) {
      try {
        await Promise.all([byEmail.consume(emailKey(action, email)), byIp.consume(`${action}:${ip}`)]);
      } catch (error) {
        if (error instanceof RateLimiterRes) throw rateLimited(Math.max(1, Math.ceil(error.msBeforeNext / 1000)));
        throw error;
      }
    },
    async refund({ action, email, ip }) {
      await Promise.all([byEmail.reward(emailKey(action, email), 1), byIp.reward(`${action}:${ip}`, 1)]);
    },
  };
}
