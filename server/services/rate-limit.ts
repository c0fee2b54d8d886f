import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { rateLimited } from '../errors.js';

export type AuthRateLimiter = {
  /** Counts one sign-up or log-in attempt; throws 429 once the email or the IP is over its budget. */
  consume: (input: { action: 'login' | 'signup'; email: string; ip: string }) => Promise<void>;
};

export function createAuthRateLimiter(options: { perEmail: number; perIp: number; windowSeconds: number }): AuthRateLimiter {
  const byEmail = new RateLimiterMemory({ keyPrefix: 'auth-email', points: options.perEmail, duration: options.windowSeconds });
  const byIp = new RateLimiterMemory({ keyPrefix: 'auth-ip', points: options.perIp, duration: options.windowSeconds });
  return {
    async consume({ action, email, ip }) {
      try {
        await Promise.all([byEmail.consume(`${action}:${email.trim().toLowerCase()}`), byIp.consume(`${action}:${ip}`)]);
      } catch (error) {
        if (error instanceof RateLimiterRes) throw rateLimited(Math.max(1, Math.ceil(error.msBeforeNext / 1000)));
        throw error;
      }
    },
  };
}
