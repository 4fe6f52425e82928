"""Built-in environments: one line per env (id -> "module:Class"), imported lazily."""

BUILTIN: dict[str, str] = {
    "maze": "agentgym.envs.maze.env:MazeEnv",
    "wordle": "agentgym.envs.wordle.env:WordleEnv",
    "babyai": "agentgym.envs.babyai.env:BabyAIEnv",
    "textcraft": "agentgym.envs.textcraft.env:TextCraftEnv",
    "sciworld": "agentgym.envs.sciworld.env:SciWorldEnv",
    "alfworld": "agentgym.envs.alfworld.env:ALFWorldEnv",
    "webshop": "agentgym.envs.webshop.env:WebShopEnv",
    "bird": "agentgym.envs.sql.env:BirdEnv",
    "weather": "agentgym.envs.tools.weather.env:WeatherEnv",
    "movie": "agentgym.envs.tools.movie.env:MovieEnv",
    "academia": "agentgym.envs.tools.academia.env:AcademiaEnv",
    "sheet": "agentgym.envs.tools.sheet.env:SheetEnv",
    "todo": "agentgym.envs.tools.todo.env:TodoEnv",
}
