import { Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from '../common/api-error-responses.decorator';
import { ModelNamePipe, ModelVersionPipe } from '../common/model-route-params';
import { RouteFacts } from '../http/route-facts';
import { AdminTokenGuard } from '../common/admin-token.guard';
import { ModelListDto, ModelStatusDto, ModelVersionDto } from './dto/model-status.dto';
import { ModelManagementService } from './model-management.service';

const IRIS_VERSION = {
  name: 'iris',
  version: 1,
  state: 'AVAILABLE',
  loadedAt: '2026-11-26T00:20:08.506Z',
  loadMs: 17,
  format: 'layers',
  inputs: [{ name: 'standardize_input', dtype: 'float32', shape: [-1, 4] }],
  outputs: [{ name: 'dense_Dense2/dense_Dense2', dtype: 'float32', shape: [-1, 3] }],
  labels: ['setosa', 'versicolor', 'virginica'],
  features: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
};
const IRIS = { name: 'iris', state: 'AVAILABLE', versionPolicy: { kind: 'latest', count: 1 }, versions: [IRIS_VERSION] };
const NAME = { name: 'name', description: 'Model name: its folder in the repository', example: 'iris' };

/** The model repository's state, and changes to it (TF Serving and Triton style). */
@ApiTags('models')
@Controller('models')
export class ModelsController {
  constructor(private readonly management: ModelManagementService) {}

  @Get()
  @ApiOperation({ summary: 'Every model in the repository, its versions and their states' })
  @ApiOkResponse({ type: ModelListDto, example: { models: [{ ...IRIS, versions: [statusOnly(IRIS_VERSION)] }] } })
  @ApiErrorResponses(500)
  list(): ModelListDto {
    return this.management.list();
  }

  @Get(':name')
  @ApiOperation({ summary: 'One model: its versions with inputs, outputs, labels, state and load time' })
  @ApiParam(NAME)
  @ApiOkResponse({ type: ModelStatusDto, example: IRIS })
  @ApiErrorResponses(400, 404, 500)
  get(@Param('name', ModelNamePipe) name: string): ModelStatusDto {
    return this.management.model(name);
  }

  @Get(':name/versions/:version')
  @ApiOperation({ summary: 'One model version: inputs, outputs, labels, state and load time' })
  @ApiParam(NAME)
  @ApiParam({ name: 'version', example: 1 })
  @ApiOkResponse({ type: ModelVersionDto, example: IRIS_VERSION })
  @ApiErrorResponses(400, 404, 500)
  version(@Param('name', ModelNamePipe) name: string, @Param('version', ModelVersionPipe) version: number): ModelVersionDto {
    return this.management.version(name, version);
  }

  @Post(':name/load')
  @RouteFacts({ management: true })
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Load a model from the repository, or serve it again after an unload (needs ADMIN_TOKEN)' })
  @ApiParam(NAME)
  @ApiOkResponse({ type: ModelStatusDto, example: IRIS })
  @ApiErrorResponses(400, 401, 403, 404, 422, 500)
  load(@Param('name', ModelNamePipe) name: string): Promise<ModelStatusDto> {
    return this.management.load(name);
  }

  @Post(':name/unload')
  @RouteFacts({ management: true })
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Stop serving every version of a model until it is loaded again (needs ADMIN_TOKEN)' })
  @ApiParam(NAME)
  @ApiOkResponse({ type: ModelStatusDto, example: { name: 'iris', state: 'UNLOADED', reason: 'unloaded on request', versions: [] } })
  @ApiErrorResponses(400, 401, 403, 404, 500)
  unload(@Param('name', ModelNamePipe) name: string): Promise<ModelStatusDto> {
    return this.management.unload(name);
  }

  @Post(':name/reload')
  @RouteFacts({ management: true })
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'Read a model from disk anew; the fresh copies are swapped in once loaded (needs ADMIN_TOKEN)',
  })
  @ApiParam(NAME)
  @ApiOkResponse({ type: ModelStatusDto, example: IRIS })
  @ApiErrorResponses(400, 401, 403, 404, 422, 500)
  reload(@Param('name', ModelNamePipe) name: string): Promise<ModelStatusDto> {
    return this.management.reload(name);
  }
}

function statusOnly(version: typeof IRIS_VERSION): object {
  const { name, state, loadedAt, loadMs } = version;
  return { name, version: version.version, state, loadedAt, loadMs };
}
