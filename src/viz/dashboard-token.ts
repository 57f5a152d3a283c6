import { z } from 'zod';

/** The dashboard's access token: it travels in the URL, so only URL-safe characters. */
export const dashboardTokenSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{16,128}$/, '16 to 128 characters from A-Z a-z 0-9 _ -');
