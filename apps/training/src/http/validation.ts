import { BadRequestException, ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { validationException } from './errors.js';

/** whitelist + forbidNonWhitelisted; a body that is not a JSON object is refused before validation. */
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      validationError: { target: false, value: false },
      exceptionFactory: validationException,
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata) {
    if (metadata.type === 'body' && metadata.metatype && metadata.metatype !== Object) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'request body must be a JSON object' });
      }
    }
    return super.transform(value, metadata);
  }
}
