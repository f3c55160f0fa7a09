"""Running code in a container: results, state between calls, the scientific stack,
charts as PNG, files in /mnt/data both ways, time limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from hearth import errors
from hearth.sandbox import Sandboxes
from tests.sandbox.conftest import logs

pytestmark = pytest.mark.anyio


async def test_computation_and_state_across_calls(sandboxes: Sandboxes, container: str) -> None:
    first = await sandboxes.run(container, "import math\nanswer = math.factorial(10)\nanswer")
    assert first.status == "completed"
    assert logs(first).strip() == "3628800"
    second = await sandboxes.run(container, "print(answer // 7, math.pi > 3)")
    assert logs(second) == "518400 True\n"


async def test_exception_is_reported_in_logs(sandboxes: Sandboxes, container: str) -> None:
    result = await sandboxes.run(container, "1 / 0")
    assert result.status == "completed"
    assert "ZeroDivisionError" in logs(result)
    assert "\x1b[" not in logs(result)  # no terminal colours


async def test_numpy_pandas_and_a_chart(sandboxes: Sandboxes, container: str) -> None:
    code = (
        "import numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.DataFrame({'x': np.arange(5), 'y': np.arange(5) ** 2})\n"
        "print(df['y'].sum())\n"
        "plt.plot(df['x'], df['y']); plt.title('squares'); plt.show()\n"
    )
    result = await sandboxes.run(container, code)
    assert result.status == "completed", result
    assert "30" in logs(result)
    images = [o.png for o in result.outputs if o.type == "image"]
    assert len(images) == 1
    picture = Image.open(io.BytesIO(images[0]))
    assert picture.format == "PNG" and picture.width > 100 and picture.height > 100


async def test_saved_chart_is_an_image_and_a_file(sandboxes: Sandboxes, container: str) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.bar(['a', 'b'], [3, 5]); plt.savefig('/mnt/data/bars.png'); plt.close()\n"
    )
    result = await sandboxes.run(container, code)
    images = [o.png for o in result.outputs if o.type == "image"]
    assert len(images) == 1 and Image.open(io.BytesIO(images[0])).format == "PNG"
    files = await sandboxes.list_files(container)
    assert [f.path for f in files] == ["/mnt/data/bars.png"]
    assert await sandboxes.read_file(container, "/mnt/data/bars.png") == images[0]


async def test_files_both_ways(sandboxes: Sandboxes, container: str) -> None:
    written = await sandboxes.write_file(container, "input.csv", b"a,b\n1,2\n3,4\n")
    assert written.path == "/mnt/data/input.csv" and written.bytes == 12
    code = (
        "import pandas as pd, os\n"
        "df = pd.read_csv('input.csv')\n"
        "os.makedirs('out', exist_ok=True)\n"
        "df.sum().to_csv('/mnt/data/out/sums.csv')\n"
    )
    result = await sandboxes.run(container, code)
    assert result.status == "completed", result
    paths = {f.path for f in await sandboxes.list_files(container)}
    assert paths == {"/mnt/data/input.csv", "/mnt/data/out/sums.csv"}
    sums = await sandboxes.read_file(container, "/mnt/data/out/sums.csv")
    assert b"a,4" in sums and b"b,6" in sums
    await sandboxes.delete_file(container, "/mnt/data/input.csv")
    after = await sandboxes.run(container, "import os; print(os.path.exists('input.csv'))")
    assert logs(after) == "False\n"


async def test_links_written_by_code_are_never_followed(
    sandboxes: Sandboxes, container: str
) -> None:
    # a link made inside the container names a host path; Hearth must not read through it
    secret = sandboxes.settings.data_dir / "hearth-secret.txt"
    secret.write_text("the host's data")
    await sandboxes.run(container, f"import os; os.symlink({str(secret)!r}, 'leak.txt')")
    assert "/mnt/data/leak.txt" not in {f.path for f in await sandboxes.list_files(container)}
    with pytest.raises(errors.NotFound):
        await sandboxes.read_file(container, "/mnt/data/leak.txt")
    with pytest.raises(errors.InvalidRequest):
        await sandboxes.write_file(container, "leak.txt", b"overwrite the host")
    assert secret.read_text() == "the host's data"


async def test_a_call_over_its_time_is_interrupted_and_state_survives(
    sandboxes: Sandboxes, container: str
) -> None:
    await sandboxes.run(container, "kept = 'still here'")
    result = await sandboxes.run(container, "while True:\n    pass", timeout=1.0)
    assert result.status == "timed_out"
    assert result.error is not None and "interrupted" in result.error
    assert "KeyboardInterrupt" in logs(result)
    after = await sandboxes.run(container, "print(kept)")
    assert after.status == "completed" and logs(after) == "still here\n"


async def test_unknown_container(sandboxes: Sandboxes) -> None:
    with pytest.raises(errors.NotFound):
        await sandboxes.run("cntr_missing", "print(1)")
