"""The baseline: a bare FastAPI hello route behind Mangum, configured like our functions."""

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()


@app.get("/notes/{note_id}")
async def hello(note_id: str) -> dict[str, str]:
    return {"hello": note_id}


handler = Mangum(app, lifespan="off", api_gateway_base_path="/")
