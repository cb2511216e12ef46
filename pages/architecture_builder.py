import streamlit as st

st.title("Architecture builder")
st.info("Build a CNN layer by layer with forms and sliders; see output shape, parameters, receptive field and multiply-adds per layer.\n\nStart from presets such as LeNet-5 or the course's cnn3, and export the model as PyTorch code.\n\n*Coming soon.*")
