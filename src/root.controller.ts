import { Controller, Get, Redirect } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { DOCS_PATH } from './http/http-edge';

/** The service's root points to its documentation, where every route is described and can be tried. */
@ApiTags('health')
@Controller()
export class RootController {
  @Get()
  @Redirect(`/${DOCS_PATH}`, 302)
  @ApiOperation({ summary: 'Points to the API documentation (Swagger UI) at /docs' })
  @ApiResponse({ status: 302, description: 'Location: /docs' })
  root(): void {}
}
