"""envgym speaking other projects' protocols: an OpenEnv-compatible server (:mod:`.openenv`), MCP
tool servers (:mod:`.mcp_server`), OpenEnv package export (:mod:`.openenv_export`) and the cached
venvs of the peer packages envgym is tested against (:mod:`.peer_venvs`).  Nothing heavy is imported
here: each protocol's packages load with the submodule that needs them."""
